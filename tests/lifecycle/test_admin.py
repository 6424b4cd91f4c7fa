"""Staff side: the manage page (link, check, activate, pause, resume) and notifications."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, InstallNotification, WebhookEvent, merchant_by_hash
from tests.conftest import csrf_token, login, make_staff
from tests.lifecycle.conftest import BINDO_SECRET, BINDO_TOKEN, STORE, link_bindo, make_merchant


@pytest.fixture
def staff(client, app):
    """Sign in as a staff user of the given role."""

    def sign_in(role: str):
        make_staff(f"{role}@bindo.test", role=role)
        assert login(client, f"{role}@bindo.test").status_code == 302
        return client

    return sign_in


def manage_url(merchant) -> str:
    return f"/admin/merchants/{merchant.id}/manage"


def token_of(client, merchant) -> str:
    return csrf_token(client.get(manage_url(merchant)).get_data(as_text=True))


def link_data(token: str) -> dict:
    return {
        "csrf_token": token,
        "bindo_store_id": "bindo-store-1",
        "location_id": "11",
        "bindo_token": BINDO_TOKEN,
        "webhook_secret": BINDO_SECRET,
    }


def test_support_links_bindo_and_secrets_are_never_rendered_back(staff, app):
    client = staff("support")
    merchant = make_merchant()
    response = client.post(
        f"/admin/merchants/{merchant.id}/link", data=link_data(token_of(client, merchant))
    )
    assert response.status_code == 302
    db.session.expire_all()
    merchant = merchant_by_hash(STORE)
    assert merchant.bindo_token == BINDO_TOKEN and merchant.bindo_webhook_secret == BINDO_SECRET
    assert merchant.bindo_location_ids == [11]
    page = client.get(manage_url(merchant)).get_data(as_text=True)
    assert BINDO_TOKEN not in page and BINDO_SECRET not in page
    assert "token-abc123" not in page  # nor the BigCommerce token
    audit_row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "merchant.bindo_linked")
    )
    assert audit_row.actor == "support@bindo.test"
    assert BINDO_TOKEN not in str(audit_row.detail)


def test_blank_secrets_keep_the_stored_ones(staff, app):
    client = staff("support")
    merchant = make_merchant()
    link_bindo(merchant)
    data = {**link_data(token_of(client, merchant)), "bindo_token": "", "webhook_secret": ""}
    client.post(f"/admin/merchants/{merchant.id}/link", data=data)
    db.session.expire_all()
    assert merchant_by_hash(STORE).bindo_token == BINDO_TOKEN


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("support", 302), ("admin", 302)])
@pytest.mark.parametrize("operation", ["link", "activate", "check", "pause"])
def test_role_rules_for_configure_and_activate(staff, app, role, status, operation):
    client = staff(role)
    merchant = make_merchant(state="active" if operation == "pause" else "installed")
    link_bindo(merchant)
    assert client.get(manage_url(merchant)).status_code == 200  # every role may look
    data = link_data(csrf_token(client.get("/admin/").get_data(as_text=True)))
    response = client.post(f"/admin/merchants/{merchant.id}/{operation}", data=data)
    assert response.status_code == status


def test_activate_button_enqueues_the_job_with_the_actor(staff, app, redis_conn):
    client = staff("support")
    merchant = make_merchant()
    link_bindo(merchant)
    client.post(
        f"/admin/merchants/{merchant.id}/activate", data={"csrf_token": token_of(client, merchant)}
    )
    (job,) = Queue("default", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.func_name == "worker.jobs.lifecycle.activate_merchant"
    assert job.args == [merchant.id, "support@bindo.test"]


def test_activate_button_refuses_an_incomplete_link_without_enqueuing(staff, app, redis_conn):
    client = staff("support")
    merchant = make_merchant()
    response = client.post(
        f"/admin/merchants/{merchant.id}/activate",
        data={"csrf_token": token_of(client, merchant)},
        follow_redirects=True,
    )
    assert "Bindo link is incomplete" in response.get_data(as_text=True)
    assert Queue("default", connection=redis_conn, serializer=JSONSerializer).count == 0


def test_pause_needs_a_reason_and_resume_imports_waiting_orders_at_once(staff, app, redis_conn):
    client = staff("support")
    merchant = make_merchant(state="active")
    pause = f"/admin/merchants/{merchant.id}/pause"
    refused = client.post(
        pause, data={"csrf_token": token_of(client, merchant)}, follow_redirects=True
    )
    assert "Give a reason to pause" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert merchant_by_hash(STORE).state == "active"
    reason = "Stock count until Monday"
    client.post(pause, data={"csrf_token": token_of(client, merchant), "reason": reason})
    db.session.expire_all()
    paused = merchant_by_hash(STORE)
    assert (paused.state, paused.pause_reason) == ("paused", reason)

    # Order events that arrive while paused are stored (and ignored by the inbox): waiting.
    for n, (order_id, scope) in enumerate(
        [(501, "store/order/created"), (502, "store/order/created"), (501, "store/order/updated")]
    ):
        db.session.add(
            WebhookEvent(
                source="bigcommerce",
                event_key=f"paused-{n}",
                merchant_id=merchant.id,
                scope=scope,
                payload={"data": {"type": "order", "id": order_id}},
                state="ignored",
            )
        )
    db.session.commit()
    page = client.get(manage_url(merchant)).get_data(as_text=True)
    assert reason in page and "BC #501, BC #502" in page

    client.post(
        f"/admin/merchants/{merchant.id}/resume", data={"csrf_token": token_of(client, merchant)}
    )
    db.session.expire_all()
    resumed = merchant_by_hash(STORE)
    assert (resumed.state, resumed.pause_reason) == ("active", None)
    imports = Queue("high", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert sorted(j.args[1] for j in imports) == [501, 502]
    assert {j.func_name for j in imports} == {"worker.jobs.orders.import_order"}
    low = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert sorted(j.func_name for j in low) == [
        "worker.jobs.catalog.full_sync",
        "worker.jobs.orders.sweep_orders",
    ]
    rows = list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))
    paused_row = next(r for r in rows if r.action == "merchant.paused")
    resumed_row = next(r for r in rows if r.action == "merchant.resumed")
    assert paused_row.detail["reason"] == reason
    assert resumed_row.detail["waiting_orders"] == [501, 502]


def test_operation_without_csrf_is_refused(staff, app):
    client = staff("admin")
    merchant = make_merchant(state="active")
    assert client.post(f"/admin/merchants/{merchant.id}/pause").status_code == 400
    assert merchant_by_hash(STORE).state == "active"


def _notify(merchant, n: int) -> list[int]:
    rows = [
        InstallNotification(merchant_id=merchant.id, kind="install", message=f"m{i}")
        for i in range(n)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def test_unread_count_shows_in_the_menu_and_mark_handled_clears_it(staff, app):
    client = staff("support")
    ids = _notify(make_merchant(), 3)
    page = client.get("/admin/notifications/").get_data(as_text=True)
    assert "Installs (3)" in page
    response = client.post(
        "/admin/notifications/action/",
        data={"csrf_token": csrf_token(page), "action": "mark_handled", "rowid": ids[:2]},
    )
    assert response.status_code == 302
    page = client.get("/admin/notifications/").get_data(as_text=True)
    assert "Installs (1)" in page
    db.session.expire_all()
    handled = db.session.scalars(
        select(InstallNotification).where(InstallNotification.handled_at.isnot(None))
    )
    assert sorted(r.id for r in handled) == ids[:2]


def test_viewer_cannot_mark_notifications_handled(staff, app):
    client = staff("viewer")
    ids = _notify(make_merchant(), 1)
    page = client.get("/admin/notifications/").get_data(as_text=True)
    response = client.post(
        "/admin/notifications/action/",
        data={"csrf_token": csrf_token(page), "action": "mark_handled", "rowid": ids},
    )
    assert response.status_code == 403
    assert db.session.get(InstallNotification, ids[0]).handled_at is None
