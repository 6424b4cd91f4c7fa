"""The activation and connection-check jobs, run in-process against both simulators."""

from __future__ import annotations

import pytest
import requests
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, SyncRun, merchant_by_hash
from tests.lifecycle.conftest import BINDO_STORE, BINDO_TOKEN, STORE, link_bindo
from worker import runtime
from worker.jobs import lifecycle as jobs
from worker.lifecycle import BC_SCOPES, BINDO_EVENTS, HOOK_SECRET_HEADER


@pytest.fixture
def installed(client, sim, bindo, app):
    """Store abc123 installed through the simulator and linked to the Bindo store."""
    runtime.set_app(app)
    assert client.get(sim.install_path()).status_code == 303
    merchant = merchant_by_hash(STORE)
    link_bindo(merchant)
    return merchant


def bc_hooks(sim) -> list[dict]:
    return list(sim.state.stores[STORE].hooks.values())


def bindo_hooks(bindo_url: str) -> list[dict]:
    resp = requests.get(
        f"{bindo_url}/api/v1/stores/{BINDO_STORE}/webhooks",
        headers={"Authorization": f"Bearer {BINDO_TOKEN}"},
        timeout=5,
    )
    return resp.json()["data"]


def reload(merchant):
    db.session.expire_all()
    return merchant_by_hash(merchant.store_hash)


def test_activation_registers_hooks_sets_active_and_starts_the_initial_sync(
    installed, sim, bindo, redis_conn, app
):
    result = jobs.activate_merchant(installed.id, "support@bindo.test")
    merchant = reload(installed)
    assert merchant.state == "active" and merchant.activated_at is not None
    assert merchant.lifecycle_error is None
    hooks = bc_hooks(sim)
    assert sorted(h["scope"] for h in hooks) == sorted(BC_SCOPES)
    for hook in hooks:
        assert hook["destination"] == f"{app.config['APP_URL']}/webhooks/bigcommerce"
        assert hook["headers"] == {HOOK_SECRET_HEADER: merchant.hook_secret}
        assert hook["is_active"] is True
    (subscription,) = bindo_hooks(bindo)
    assert subscription["url"] == f"{app.config['APP_URL']}/webhooks/bindo/{merchant.id}"
    assert set(subscription["events"]) == set(BINDO_EVENTS)
    run = db.session.get(SyncRun, result["sync_run_id"])
    assert run.kind == "initial"
    (job,) = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert (job.func_name, job.args) == ("worker.jobs.catalog.full_sync", [run.id])


def test_activation_twice_is_idempotent(installed, sim, bindo):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    secret = reload(installed).hook_secret
    second = jobs.activate_merchant(installed.id, "support@bindo.test")
    assert set(second["hooks"].values()) == {"unchanged"}
    assert second["bindo_webhook"] == "unchanged"
    assert len(bc_hooks(sim)) == len(BC_SCOPES)
    assert len(bindo_hooks(bindo)) == 1
    assert reload(installed).hook_secret == secret
    assert len(list(db.session.scalars(select(SyncRun)))) == 1


def test_activation_repairs_a_deactivated_hook(installed, sim):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    hook = bc_hooks(sim)[0]
    hook["is_active"] = False
    result = jobs.activate_merchant(installed.id, "support@bindo.test")
    assert result["hooks"][hook["scope"]] == "updated"
    assert all(h["is_active"] for h in bc_hooks(sim))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"bindo_store_id": None}, "Bindo link is incomplete"),
        ({"bindo_location_ids": []}, "Bindo link is incomplete"),
        ({"bindo_webhook_secret_enc": None}, "webhook signing secret"),
        ({"state": "uninstalled", "access_token_enc": None}, "not installed"),
        ({"state": "needs_reauth"}, "re"),
    ],
)
def test_activation_refuses_with_a_recorded_reason(installed, sim, change, reason):
    for key, value in change.items():
        setattr(installed, key, value)
    db.session.commit()
    result = jobs.activate_merchant(installed.id, "support@bindo.test")
    assert reason in result["refused"]
    merchant = reload(installed)
    assert merchant.state != "active"
    assert reason in merchant.lifecycle_error
    assert bc_hooks(sim) == []
    assert db.session.scalar(
        select(AuditLog).where(AuditLog.action == "merchant.activation_refused")
    )


def test_a_revoked_token_marks_needs_reauth_and_a_fresh_auth_restores_it(installed, sim, client):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    sim.state.revoke_token(STORE)
    result = jobs.check_connection(installed.id)
    assert "401" in result["bigcommerce"]
    assert reload(installed).state == "needs_reauth"
    assert client.get(sim.install_path()).status_code == 303
    assert reload(installed).state == "active"


def test_connection_check_records_both_sides(installed, sim, bindo):
    result = jobs.check_connection(installed.id)
    assert (result["bigcommerce"], result["bindo"]) == ("ok", "ok")
    merchant = reload(installed)
    assert merchant.last_connection_check["bigcommerce"] == "ok"
    merchant.bindo_location_ids = [999]
    merchant.bindo_token = "wrong-token"
    db.session.commit()
    result = jobs.check_connection(installed.id)
    assert result["bigcommerce"] == "ok"
    assert (
        result["bindo"]
        == "Bindo rejected the API token; copy it again from Bindo and save the link."
    )
    assert "wrong-token" not in str(result)


def audit_actions(merchant) -> list[str]:
    stmt = select(AuditLog.action).where(AuditLog.merchant_id == merchant.id)
    return list(db.session.scalars(stmt))


def uninstall(client) -> None:
    from tests.lifecycle.conftest import claims, sign

    response = client.get(f"/bigcommerce/uninstall?signed_payload_jwt={sign(claims())}")
    assert response.status_code == 200


def test_uninstall_removes_our_bindo_subscription_and_only_ours(
    installed, bindo, client, redis_conn
):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    other = requests.post(
        f"{bindo}/api/v1/stores/{BINDO_STORE}/webhooks",
        json={"url": "https://another-app.example/hooks", "events": ["product.created"]},
        headers={"Authorization": f"Bearer {BINDO_TOKEN}"},
        timeout=5,
    )
    assert other.status_code in (200, 201) and len(bindo_hooks(bindo)) == 2
    redis_conn.flushdb()  # the activation's own jobs are not this test's subject

    uninstall(client)
    (job,) = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert (job.func_name, job.args) == ("worker.jobs.lifecycle.unsubscribe_bindo", [installed.id])
    result = jobs.unsubscribe_bindo(installed.id)
    assert len(result["removed"]) == 1
    assert [h["url"] for h in bindo_hooks(bindo)] == ["https://another-app.example/hooks"]
    # The Bindo secrets went with the subscription; a second run has nothing left to do.
    merchant = reload(installed)
    assert (merchant.bindo_token_enc, merchant.bindo_webhook_secret_enc) == (None, None)
    assert jobs.unsubscribe_bindo(installed.id) == {"skipped": "no Bindo link"}
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.merchant_id == installed.id)
    )
    assert list(actions).count("merchant.bindo_webhook_removed") == 1


def test_a_store_installed_again_before_the_job_runs_keeps_its_subscription(
    installed, bindo, client
):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    uninstall(client)
    merchant = reload(installed)
    merchant.state = "active"  # reinstalled and activated again meanwhile
    db.session.commit()
    assert jobs.unsubscribe_bindo(installed.id) == {"skipped": "not uninstalled"}
    assert len(bindo_hooks(bindo)) == 1


def test_a_bindo_token_that_no_longer_works_is_recorded_not_retried(installed, bindo, client):
    jobs.activate_merchant(installed.id, "support@bindo.test")
    uninstall(client)
    merchant = reload(installed)
    merchant.bindo_token = "revoked-token"
    db.session.commit()
    result = jobs.unsubscribe_bindo(installed.id)
    assert result["skipped"].startswith("Unauthorized")
    assert len(bindo_hooks(bindo)) == 1
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.merchant_id == installed.id)
    )
    assert "merchant.bindo_webhook_kept" in list(actions)


# --- issue 15 item 9: BigCommerce delivers only to https on port 443 -------------------------


@pytest.mark.parametrize(
    ("app_url", "refused"),
    [
        ("http://bindo-bc.example.com", True),
        ("https://bindo-bc.example.com:8443", True),
        ("https://bindo-bc.example.com", False),
        ("https://bindo-bc.example.com:443/", False),
    ],
)
def test_webhook_destination_must_be_https_on_443(app_url, refused):
    from portal.lifecycle import webhook_destination_problem

    problem = webhook_destination_problem(app_url)
    assert (problem is not None) is refused
    if refused:
        assert "https" in problem and app_url in problem


def test_production_refuses_activation_with_an_http_app_url(installed, sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "APP_ENV", "production")  # APP_URL is the loopback http one
    result = jobs.activate_merchant(installed.id, "support@bindo.test")
    assert "https" in result["refused"] and "APP_URL" in result["refused"]
    merchant = reload(installed)
    assert merchant.state != "active" and "https" in merchant.lifecycle_error
    assert bc_hooks(sim) == []


def test_the_simulator_refuses_http_destinations_unless_in_demo_mode(installed, sim):
    store = sim.state.stores[STORE]
    url = f"{sim.url}/stores/{STORE}/v3/hooks"
    headers = {"X-Auth-Token": store.access_token, "Accept": "application/json"}
    sim.config.demo_mode = False
    for destination in ("http://app.example.com/webhooks", "https://app.example.com:8443/x"):
        body = {"scope": "store/order/created", "destination": destination}
        response = requests.post(url, json=body, headers=headers, timeout=5)
        assert response.status_code == 422
        assert "443" in response.json()["errors"]["destination"]
    body = {"scope": "store/order/created", "destination": "https://app.example.com/webhooks"}
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 200
    sim.config.demo_mode = True
    body["destination"] = "http://127.0.0.1:5000/webhooks/bigcommerce"
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 200


def test_activation_runs_the_check_first_and_stops_on_a_wrong_location(installed, sim):
    installed.bindo_location_ids = [999]
    db.session.commit()
    result = jobs.activate_merchant(installed.id, "support@bindo.test")
    merchant = reload(installed)
    assert result["refused"].startswith("Connection check failed. Bindo: location 999 not found")
    assert merchant.state == "installed" and bc_hooks(sim) == []
    assert merchant.lifecycle_error == result["refused"]


def test_activation_marks_the_install_notification_handled(installed):
    from portal.models import InstallNotification

    (note,) = db.session.scalars(
        select(InstallNotification).where(InstallNotification.merchant_id == installed.id)
    ).all()
    assert note.handled_at is None
    jobs.activate_merchant(installed.id, "support@bindo.test")
    db.session.expire_all()
    assert db.session.get(InstallNotification, note.id).handled_at is not None


def test_the_check_lists_the_store_locations_and_hook_ids_and_a_new_link_clears_it(installed):
    from portal import lifecycle

    jobs.activate_merchant(installed.id, "support@bindo.test")
    check = jobs.check_connection(installed.id)
    assert {"id": 11, "name": check["bindo_locations"][0]["name"]} in check["bindo_locations"]
    assert all(isinstance(h["id"], int) for h in check["hooks"])
    assert {h["scope"] for h in check["hooks"]} == set(BC_SCOPES)
    merchant = reload(installed)
    lifecycle.link_bindo(merchant, "support@bindo.test", store_id=BINDO_STORE, location_id=12)
    merchant = reload(installed)
    assert merchant.last_connection_check == {"bindo_locations": check["bindo_locations"]}
    assert not lifecycle.check_passed(merchant)
