"""The staff view of imported orders: list, filters, and the Re-import action."""

from __future__ import annotations

import re

from portal.extensions import db
from portal.models import ImportedOrder, JobRecord, Merchant
from tests.conftest import csrf_token, login, make_staff


def seed() -> ImportedOrder:
    merchant = Merchant(store_hash="adm1", store_name="Admin Shop", state="active")
    db.session.add(merchant)
    db.session.commit()
    row = ImportedOrder(
        merchant_id=merchant.id,
        bc_order_id=880501,
        bindo_order_id=77,
        state="failed",
        flags=["unknown_lines"],
        error_message="ValidationFailed: price",
    )
    other = ImportedOrder(merchant_id=merchant.id, bc_order_id=880502, state="imported", flags=[])
    db.session.add_all([row, other])
    db.session.commit()
    return row


def test_list_shows_state_ids_flags_and_errors(client):
    seed()
    make_staff(email="viewer@bindo.test", role="viewer")
    login(client, email="viewer@bindo.test")
    page = client.get("/admin/orders/").get_data(as_text=True)
    assert ">BC #880501<" in cells(page) and "Bindo #77" in page and "unknown products" in page
    assert "ValidationFailed: price" in page and "Admin Shop" in page


def cells(page: str) -> str:
    """The page with whitespace around tags removed, so a cell reads ``>880501<``."""
    return re.sub(r">\s+|\s+<", lambda m: m.group(0).strip(), page)


def filter_index(app, name: str) -> int:
    admin = app.extensions["portal_admin"]
    (view,) = [v for v in admin._views if getattr(v, "endpoint", "") == "orders"]
    return next(i for i, f in enumerate(view._filters) if f.name == name)


def test_flag_filter_keeps_only_flagged_orders(app, client):
    seed()
    make_staff()
    login(client)
    flag = filter_index(app, "Flag")
    page = client.get(f"/admin/orders/?flt0_{flag}=unknown_lines").get_data(as_text=True)
    assert ">BC #880501<" in cells(page) and ">BC #880502<" not in cells(page)
    assert ">BC #880502<" in cells(client.get("/admin/orders/").get_data(as_text=True))


def test_reimport_enqueues_the_import_job_for_support(client, redis_conn):
    row = seed()
    make_staff(email="support@bindo.test", role="support")
    login(client, email="support@bindo.test")
    token = csrf_token(client.get("/admin/orders/").get_data(as_text=True))
    response = client.post(
        "/admin/orders/action/",
        data={"action": "reimport", "rowid": [str(row.id)], "csrf_token": token},
    )
    assert response.status_code == 302
    (job,) = db.session.query(JobRecord).filter_by(func="worker.jobs.orders.import_order").all()
    assert job.job_id.startswith("order-adm1-880501-") and job.queue == "high"
    assert job.args == [row.merchant_id, 880501]


def test_viewers_cannot_reimport(client, redis_conn):
    row = seed()
    make_staff(email="viewer@bindo.test", role="viewer")
    login(client, email="viewer@bindo.test")
    token = csrf_token(client.get("/admin/orders/").get_data(as_text=True))
    response = client.post(
        "/admin/orders/action/",
        data={"action": "reimport", "rowid": [str(row.id)], "csrf_token": token},
    )
    assert response.status_code == 403
    assert db.session.query(JobRecord).count() == 0


def test_reimport_is_post_only(client):
    make_staff()
    login(client)
    assert client.get("/admin/orders/action/").status_code in (404, 405)
