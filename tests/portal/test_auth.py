"""Staff login: hashing, CSRF, throttling, safe redirects, roles."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import LoginAttempt, StaffUser
from tests.conftest import csrf_token, login, make_staff


@pytest.mark.real_password_hashing
def test_password_is_stored_hashed_with_argon2(app):
    user = make_staff(password="correct horse battery")
    # argon2id at argon2-cffi's default cost (RFC 9106's second recommendation): 64 MiB, 3
    # passes, 4 lanes. The other tests hash at the lowest cost (tests/conftest.py).
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in user.password_hash


def test_admin_sends_anonymous_visitors_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_good_credentials_sign_in_and_reach_the_admin(client):
    make_staff()
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_wrong_password_is_refused_with_a_generic_message(client):
    make_staff()
    response = login(client, password="wrong password!!")
    assert response.status_code == 200
    assert "Email or password is not right." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_unknown_account_gets_the_same_message_as_a_wrong_password(client):
    response = login(client, email="nobody@bindo.test")
    assert "Email or password is not right." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_rejected(client):
    make_staff()
    response = client.post(
        "/login", data={"email": "admin@bindo.test", "password": "correct horse battery"}
    )
    assert response.status_code == 400  # CSRFProtect refuses before the view runs
    assert client.get("/admin/").status_code == 302


def test_login_is_throttled_after_ten_failures_per_account(client):
    make_staff()
    for _ in range(10):
        login(client, password="wrong password!!")
    response = login(client)  # even the right password waits out the window
    assert response.status_code == 429
    # The refused attempt is not recorded: attempts made while locked do not extend the lock.
    assert db.session.query(LoginAttempt).filter_by(succeeded=False).count() == 10


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/admin/merchants/", "/admin/merchants/"),
        ("//evil.example/x", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
        ("/\\evil.example", "/admin/"),
    ],
)
def test_next_only_redirects_within_this_host(client, target, expected):
    make_staff()
    page = client.get("/login", query_string={"next": target})
    response = client.post(
        "/login",
        query_string={"next": target},
        data={
            "email": "admin@bindo.test",
            "password": "correct horse battery",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


@pytest.mark.parametrize(
    "role, list_status",
    [("viewer", 200), ("support", 200), ("admin", 200)],
)
def test_every_role_can_read_the_merchant_list(client, role, list_status):
    make_staff(email=f"{role}@bindo.test", role=role)
    login(client, email=f"{role}@bindo.test")
    assert client.get("/admin/merchants/").status_code == list_status


def test_logout_needs_a_post_with_csrf(staff_client):
    assert staff_client.get("/logout").status_code == 405
    page = staff_client.get("/admin/").get_data(as_text=True)
    response = staff_client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert staff_client.get("/admin/").status_code == 302


def test_inactive_staff_cannot_sign_in(client):
    user = make_staff()
    user.active = False
    db.session.commit()
    login(client)
    assert client.get("/admin/").status_code == 302
    assert db.session.get(StaffUser, user.id).last_login_at is None
