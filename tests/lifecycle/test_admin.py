"""Staff side: the manage page (link, check, activate, pause, resume) and notifications."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, InstallNotification, merchant_by_hash
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


def test_pause_then_resume_with_a_catch_up_sync(staff, app, redis_conn):
    client = staff("support")
    merchant = make_merchant(state="active")
    client.post(
        f"/admin/merchants/{merchant.id}/pause", data={"csrf_token": token_of(client, merchant)}
    )
    db.session.expire_all()
    assert merchant_by_hash(STORE).state == "paused"
    client.post(
        f"/admin/merchants/{merchant.id}/resume", data={"csrf_token": token_of(client, merchant)}
    )
    db.session.expire_all()
    assert merchant_by_hash(STORE).state == "active"
    (job,) = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.func_name == "worker.jobs.catalog.full_sync"
    actions = [r.action for r in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert "merchant.paused" in actions and "merchant.resumed" in actions


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
