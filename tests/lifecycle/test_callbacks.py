"""The auth callback against the simulator's login service, plus uninstall and remove_user."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditLog,
    InstallNotification,
    Merchant,
    MerchantUser,
    audit,
    merchant_by_hash,
)
from tests.lifecycle.conftest import STORE, claims, make_merchant, open_app, sign


def merchants() -> list[Merchant]:
    db.session.expire_all()
    return list(db.session.scalars(select(Merchant)))


def notifications(kind: str | None = None) -> list[InstallNotification]:
    stmt = select(InstallNotification)
    if kind:
        stmt = stmt.where(InstallNotification.kind == kind)
    return list(db.session.scalars(stmt))


def test_install_exchanges_the_code_and_records_the_merchant(client, sim):
    response = client.get(sim.install_path())
    assert response.status_code == 303
    assert response.headers["Location"].rstrip("/").endswith("/app")
    (merchant,) = merchants()
    store = sim.state.stores[STORE]
    assert merchant.access_token == store.access_token  # the exchanged token, stored
    assert store.access_token not in (merchant.access_token_enc or "")  # encrypted at rest
    assert merchant.state == "installed"
    assert merchant.store_name == f"Store {STORE}"
    assert merchant.bc_store_id == str(store.store_id)
    assert merchant.weight_unit == "KGS"
    assert merchant.bc_multi_storefront is store.multi_storefront is True  # features flag
    assert merchant.owner_email == store.owner_email
    assert merchant.account_uuid == sim.config.account_uuid
    # The simulator grants store_v2_default and users_basic_information on top, as real installs do.
    assert set(merchant.scopes.split()) == set(sim.config.granted_scopes().split())
    assert [n.kind for n in notifications()] == ["install"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "merchant.install"))
    page = client.get("/app").get_data(as_text=True)
    assert "Bindo has been notified" in page


def test_install_sets_the_iframe_cookie_attributes(client, sim):
    response = client.get(sim.install_path())
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("bc_app_session=")
    for attribute in ("Secure", "SameSite=None", "Partitioned", "HttpOnly"):
        assert attribute in cookie


def test_install_granting_extra_scopes_is_accepted_and_logs_the_extras(client, sim, caplog):
    assert {"store_v2_default", "users_basic_information"} <= set(
        sim.config.granted_scopes().split()
    )
    caplog.set_level("INFO", logger="portal.bigcommerce")
    assert client.get(sim.install_path()).status_code == 303
    (merchant,) = merchants()
    assert "store_v2_default" in merchant.scopes.split()
    assert "users_basic_information" in caplog.text


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"install_scope_override": "store_v2_products"}, 400),  # fewer scopes than configured
        ({"token_context_override": "stores/other1"}, 400),  # token answers for another store
    ],
)
def test_install_with_mismatching_grant_is_refused_and_stores_nothing(
    client, sim_config, override, status, request
):
    for key, value in override.items():
        setattr(sim_config, key, value)
    sim = request.getfixturevalue("sim")
    response = client.get(sim.install_path())
    assert response.status_code == status
    assert merchants() == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=abc&scope=x",
        "code=abc&scope=store_v2_products&context=stores/UPPER",
        "code=abc&scope=store_v2_products&context=../etc",
    ],
)
def test_incomplete_auth_callbacks_get_400(client, sim, query):
    assert client.get(f"/bigcommerce/auth?{query}").status_code == 400
    assert merchants() == []


def test_failed_code_exchange_stores_no_token(client, sim):
    path = sim.install_path().replace("code=", "code=forged")
    response = client.get(path)
    assert response.status_code == 502
    assert "forged" not in response.get_data(as_text=True)
    assert merchants() == []


def test_unreachable_login_service_is_a_502_page(client, sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "BIGCOMMERCE_LOGIN_URL", "http://127.0.0.1:9")
    assert client.get(sim.install_path()).status_code == 502
    assert merchants() == []


def test_double_submit_keeps_one_merchant_and_the_good_token(client, sim):
    path = sim.install_path()
    assert client.get(path).status_code == 303
    token = merchants()[0].access_token
    second = client.get(path)  # the code is single use: the exchange fails
    assert second.status_code == 502
    (merchant,) = merchants()
    assert merchant.access_token == token
    assert len(notifications()) == 1


def test_reinstall_reuses_the_merchant_and_keeps_history(client, sim):
    client.get(sim.install_path())
    db.session.remove()
    sim.state.uninstall(STORE)  # calls our /bigcommerce/uninstall over HTTP
    (merchant,) = merchants()
    assert merchant.state == "uninstalled"
    assert merchant.access_token_enc is None
    assert client.get(sim.install_path()).status_code == 303
    (again,) = merchants()
    assert again.id == merchant.id
    assert again.state == "installed" and again.access_token
    assert [n.kind for n in notifications()] == ["install", "uninstall", "reinstall"]


@pytest.mark.parametrize("previous", ["active", "paused", "installed"])
def test_reauthorisation_restores_the_state_before_the_401(client, sim, previous):
    merchant = make_merchant(state="needs_reauth")
    audit("merchant.needs_reauth", merchant=merchant, previous=previous, status=401)
    db.session.commit()
    assert client.get(sim.install_path()).status_code == 303
    (merchant,) = merchants()
    assert merchant.state == previous
    assert merchant.access_token == sim.state.stores[STORE].access_token
    assert [n.kind for n in notifications()] == ["reauth"]


def test_uninstall_three_times_changes_state_once(client, app):
    merchant = make_merchant(state="active")
    for _ in range(3):
        response = client.get(f"/bigcommerce/uninstall?signed_payload_jwt={sign(claims())}")
        assert response.status_code == 200
    db.session.expire_all()
    merchant = merchant_by_hash(STORE)
    assert merchant.state == "uninstalled" and merchant.uninstalled_at is not None
    assert merchant.access_token_enc is None
    assert not merchant.syncing
    assert len(notifications("uninstall")) == 1
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "merchant.uninstall"))
    assert len(list(rows)) == 1


def test_uninstall_of_an_unknown_store_is_refused(client, app):
    response = client.get(f"/bigcommerce/uninstall?signed_payload_jwt={sign(claims())}")
    assert response.status_code == 403


def test_removed_user_can_no_longer_load_the_app(client, app):
    make_merchant()
    open_app(client, user_id=7)
    removal = sign(claims(user={"id": 7, "email": "u7@example.com"}))
    assert client.get(f"/bigcommerce/remove_user?signed_payload_jwt={removal}").status_code == 200
    user = db.session.scalar(select(MerchantUser).where(MerchantUser.bc_user_id == 7))
    assert user.removed_at is not None
    again = sign(claims(user={"id": 7, "email": "u7@example.com"}))
    assert client.get(f"/bigcommerce/load?signed_payload_jwt={again}").status_code == 403
    assert client.get("/app").status_code == 401  # the running session ends too


def test_load_records_users_and_the_owner_flag(client, app):
    merchant = make_merchant()
    open_app(client, user_id=1)
    open_app(client, user_id=42)
    users = {
        u.bc_user_id: u.is_owner
        for u in db.session.scalars(
            select(MerchantUser).where(MerchantUser.merchant_id == merchant.id)
        )
    }
    assert users == {1: True, 42: False}


def test_made_up_codes_are_throttled_per_store_before_calling_bigcommerce(
    client, sim, app, monkeypatch
):
    monkeypatch.setitem(app.config, "AUTH_CALLBACK_MAX_PER_STORE", 3)
    path = sim.install_path().replace("code=", "code=forged")
    answers = [client.get(path).status_code for _ in range(5)]
    assert answers == [502, 502, 502, 429, 429]  # the last two never reach BigCommerce
    assert merchants() == []


def test_made_up_codes_are_throttled_per_address_across_stores(client, sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_CALLBACK_MAX_PER_ADDRESS", 2)
    path = sim.install_path().replace("code=", "code=forged")
    answers = []
    for n in range(4):
        other = path.replace(f"stores%2F{STORE}", f"stores%2Fother{n}").replace(
            f"stores/{STORE}", f"stores/other{n}"
        )
        answers.append(client.get(other).status_code)
    assert answers == [502, 502, 429, 429]


def test_uninstall_deletes_the_hook_secret_at_once_and_queues_the_bindo_secrets_deletion(
    client, app
):
    from tests.lifecycle.conftest import link_bindo

    merchant = make_merchant(state="active")
    merchant.hook_secret = "hook-secret-value"
    link_bindo(merchant)
    assert (
        client.get(f"/bigcommerce/uninstall?signed_payload_jwt={sign(claims())}").status_code == 200
    )
    db.session.expire_all()
    merchant = merchant_by_hash(STORE)
    assert merchant.hook_secret_enc is None
    # Kept only until the unsubscribe job has used the token (tests/lifecycle/test_activation).
    assert merchant.bindo_token_enc is not None


def test_uninstall_without_a_bindo_link_deletes_the_webhook_secret_at_once(client, app):
    merchant = make_merchant(state="installed")
    merchant.hook_secret = "hook-secret-value"
    merchant.bindo_webhook_secret = "bindo-webhook-secret"
    db.session.commit()
    assert (
        client.get(f"/bigcommerce/uninstall?signed_payload_jwt={sign(claims())}").status_code == 200
    )
    db.session.expire_all()
    merchant = merchant_by_hash(STORE)
    assert (merchant.hook_secret_enc, merchant.bindo_webhook_secret_enc) == (None, None)
