"""Issue 18's staff-side findings: proxy-aware throttling that locked attempts do not extend,
the login email's shape and NUL bytes, revocable sessions, and the password policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.auth import password_problem
from portal.extensions import db
from portal.models import LoginAttempt, StaffUser
from tests.conftest import base_config, csrf_token, login, make_staff

ROUTER = "10.0.0.1"


def attempt(client, email: str, password: str = "wrong password!!", **environ):
    page = client.get("/login", **environ)
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, **environ
    )


def behind_router(client_ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ROUTER, "HTTP_X_FORWARDED_FOR": client_ip}}


# -- 1. throttle behind a proxy; no lock extension ----------------------------------------


def test_behind_a_trusted_proxy_each_visitor_is_throttled_on_their_own_address(app, database_url):
    proxied = create_app(base_config(database_url, TRUSTED_PROXIES=1))
    client = proxied.test_client()
    # 35 visitors failing once each: more than the per-address limit (30) if all shared
    # the router's address, so without the proxy fix the last ones would be locked out.
    statuses = [
        attempt(client, f"user{n}@bindo.test", **behind_router(f"203.0.113.{n}")).status_code
        for n in range(35)
    ]
    assert set(statuses) == {200}
    ips = set(db.session.scalars(select(LoginAttempt.ip)))
    assert ROUTER not in ips and "203.0.113.34" in ips


def test_without_trusted_proxies_a_forwarded_header_is_ignored(app, client):
    attempt(client, "x@bindo.test", **behind_router("203.0.113.9"))
    assert db.session.scalars(select(LoginAttempt.ip)).one() == ROUTER


def test_attempts_made_while_locked_do_not_extend_the_lock(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    make_staff()
    assert [attempt(client, "admin@bindo.test").status_code for _ in range(3)] == [200] * 3
    locked = [attempt(client, "admin@bindo.test").status_code for _ in range(5)]
    assert locked == [429] * 5
    # The window of the three real failures passes; the locked attempts must not count.
    window = timedelta(seconds=app.config["LOGIN_WINDOW_SECONDS"] + 1)
    for row in db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id).limit(3)):
        row.at = row.at - window
    db.session.commit()
    assert login(client).status_code == 302


# -- 2. the email field --------------------------------------------------------------------


@pytest.mark.parametrize("email", ["admin\x00@bindo.test", "not-an-email", "a b@bindo.test"])
def test_a_malformed_login_email_never_reaches_the_database(app, client, email):
    response = attempt(client, email)
    assert response.status_code in (200, 400)
    assert db.session.scalar(select(LoginAttempt)) is None


def test_nul_bytes_in_any_form_or_query_field_are_refused(app, client):
    assert client.get("/login", query_string={"next": "/admin/\x00"}).status_code == 400
    assert client.post("/app", data={"content_managed_by": "bindo\x00"}).status_code == 400


# -- 4. revocable sessions -----------------------------------------------------------------


def saved_cookie(client) -> str:
    return client.get_cookie("bindo_session").value


def test_a_saved_session_cookie_stops_working_after_logout(app, client):
    make_staff()
    login(client)
    assert client.get("/admin/").status_code == 200
    saved = saved_cookie(client)
    page = client.get("/admin/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    client.set_cookie("bindo_session", saved)  # replayed by whoever kept it
    assert client.get("/admin/").status_code == 302


def test_a_new_password_ends_every_open_session(app, client):
    make_staff()
    login(client)
    assert client.get("/admin/").status_code == 200
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "admin@bindo.test", "--role", "admin", "--password-stdin"],
        input="a much better passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert client.get("/admin/").status_code == 302
    assert login(client, password="a much better passphrase").status_code == 302


# -- 11. password policy and the CLI -------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "abcabcabcabc", "123456789012", "Password1234", "qwertyuiopas", "short"],
)
def test_common_short_and_repetitive_passwords_are_refused(password):
    assert password_problem(password) is not None


@pytest.mark.parametrize("password", ["a much better passphrase", "tq8-Vx2;mLp0#r"])
def test_ordinary_strong_passwords_are_accepted(password):
    assert password_problem(password) is None


def test_staff_create_refuses_a_repetitive_password_from_stdin(app):
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "new@bindo.test", "--password-stdin"], input="aaaaaaaaaaaa\n"
    )
    assert result.exit_code != 0 and "repetitive" in result.output
    assert db.session.scalar(select(StaffUser)) is None


def test_staff_create_prompts_for_the_password_and_has_no_password_option(app):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["staff", "create", "n@bindo.test", "--password", "x" * 12])
    assert refused.exit_code != 0 and "No such option" in refused.output
    prompted = runner.invoke(
        args=["staff", "create", "n@bindo.test", "--role", "viewer"],
        input="a much better passphrase\na much better passphrase\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert db.session.scalar(select(StaffUser.email)) == "n@bindo.test"
