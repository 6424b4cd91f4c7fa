"""The merchant's app page: session required, settings, sync status, tenant isolation."""

from __future__ import annotations

import re

import pytest
import requests
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, ImportedOrder, ProductBinding, SyncRun, merchant_by_hash, utcnow
from tests.conftest import csrf_token
from tests.lifecycle.conftest import OTHER_STORE, STORE, make_merchant, open_app
from worker.sync import store_lists


def test_app_without_a_session_says_to_open_it_from_bigcommerce(client, app):
    response = client.get("/app")
    assert response.status_code == 401
    assert "BigCommerce control panel" in response.get_data(as_text=True)


def test_app_session_expires(client, app):
    make_merchant()
    open_app(client)
    with client.session_transaction("/app") as sess:
        sess["bc_expires"] = int(utcnow().timestamp()) - 1
    assert client.get("/app").status_code == 401


def _categories(sim, names: list[str]) -> None:
    store = sim.state.stores[STORE]
    body = [{"name": n, "tree_id": 1} for n in names]
    resp = requests.post(
        f"{sim.url}/stores/{STORE}/v3/catalog/trees/categories",
        json=body,
        headers={"X-Auth-Token": store.access_token},
        timeout=5,
    )
    assert resp.status_code in (200, 201), resp.text


def test_settings_list_the_stores_own_categories_and_save_with_audit(client, sim, redis_conn):
    client.get(sim.install_path())
    _categories(sim, ["Shoes", "Hats"])
    page = client.get("/app").get_data(as_text=True)
    # The page never calls BigCommerce: it queues a paced refresh of the stored list.
    assert "being read from BigCommerce" in page and "Shoes" not in page
    jobs = Queue("default", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert "worker.jobs.store_lists.refresh_categories" in [j.func_name for j in jobs]
    store_lists.refresh_categories(merchant_by_hash(STORE))
    page = client.get("/app").get_data(as_text=True)
    assert "Shoes" in page and "Hats" in page
    hats = next(c for c in sim.state.stores[STORE].categories.values() if c["name"] == "Hats")
    response = client.post(
        "/app",
        data={
            "csrf_token": csrf_token(page),
            "default_category_id": hats["category_id"],
            "content_managed_by": "bigcommerce",
            "allow_out_of_stock_orders": "y",
        },
    )
    assert response.status_code == 303
    merchant = merchant_by_hash(STORE)
    db.session.refresh(merchant)
    assert merchant.default_category_id == hats["category_id"]
    assert merchant.content_managed_by == "bigcommerce"
    assert merchant.allow_out_of_stock_orders is True
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "merchant.settings_changed"))
    assert row.actor_type == "merchant"
    assert set(row.detail["changes"]) == {
        "default_category_id",
        "content_managed_by",
        "allow_out_of_stock_orders",
    }
    assert db.session.scalar(select(SyncRun)) is None  # not active yet: nothing to sync


def test_a_category_of_another_store_is_not_accepted(client, sim):
    client.get(sim.install_path())
    page = client.get("/app").get_data(as_text=True)
    response = client.post(
        "/app",
        data={
            "csrf_token": csrf_token(page),
            "default_category_id": 999999,
            "content_managed_by": "bindo",
        },
    )
    assert response.status_code == 400
    assert merchant_by_hash(STORE).default_category_id is None


def test_settings_post_without_csrf_is_refused(client, app):
    make_merchant()
    open_app(client)
    response = client.post("/app", data={"default_category_id": 0, "content_managed_by": "bindo"})
    assert response.status_code == 400


def test_content_ownership_change_re_sends_every_product(client, app, redis_conn):
    make_merchant(state="active", activated_at=utcnow())
    open_app(client)
    page = client.get("/app").get_data(as_text=True)  # BigCommerce unreachable: still renders
    assert 'id="categories-note"' in page
    client.post(
        "/app",
        data={
            "csrf_token": csrf_token(page),
            "default_category_id": 0,
            "content_managed_by": "bigcommerce",
        },
    )
    queue = Queue("low", connection=redis_conn, serializer=JSONSerializer)
    (job,) = queue.get_jobs()
    # The payload hash cannot see who owns content: the worker forgets hashes, then syncs.
    assert job.func_name == "worker.jobs.catalog.settings_changed"
    assert job.args == [merchant_by_hash(STORE).id]


def test_out_of_stock_change_also_re_sends_every_product(client, app, redis_conn):
    make_merchant(state="active", activated_at=utcnow())
    open_app(client)
    page = client.get("/app").get_data(as_text=True)
    client.post(
        "/app",
        data={
            "csrf_token": csrf_token(page),
            "default_category_id": 0,
            "content_managed_by": "bindo",
            "allow_out_of_stock_orders": "y",
        },
    )
    (job,) = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.func_name == "worker.jobs.catalog.settings_changed"


def test_active_page_shows_only_this_stores_status(client, app):
    mine = make_merchant(state="active", activated_at=utcnow())
    theirs = make_merchant(OTHER_STORE, state="active", activated_at=utcnow())
    for merchant, states in ((mine, ["synced", "synced", "failed"]), (theirs, ["hidden"] * 5)):
        for n, state in enumerate(states):
            db.session.add(
                ProductBinding(merchant_id=merchant.id, bindo_product_id=n, sync_state=state)
            )
    db.session.add(ImportedOrder(merchant_id=theirs.id, bc_order_id=777))
    db.session.commit()
    open_app(client, STORE)
    page = client.get("/app").get_data(as_text=True)
    figures = dict(re.findall(r'id="count-(\w+)"><div class="figure">(\d+)<', page))
    assert figures == {"synced": "2", "failing": "1", "hidden": "0"}
    assert "#777" not in page


@pytest.mark.parametrize("kind", ["orders", "runs"])
def test_another_stores_objects_answer_404(client, app, kind):
    make_merchant(state="active", activated_at=utcnow())
    theirs = make_merchant(OTHER_STORE, state="active", activated_at=utcnow())
    mine = db.session.scalar(select(type(theirs)).where(type(theirs).store_hash == STORE))
    rows = {}
    for merchant in (mine, theirs):
        row = (
            ImportedOrder(merchant_id=merchant.id, bc_order_id=100 + merchant.id)
            if kind == "orders"
            else SyncRun(merchant_id=merchant.id, kind="full")
        )
        db.session.add(row)
        db.session.flush()
        rows[merchant.store_hash] = row.id
    db.session.commit()
    open_app(client, STORE)
    assert client.get(f"/app/{kind}/{rows[STORE]}").status_code == 200
    assert client.get(f"/app/{kind}/{rows[OTHER_STORE]}").status_code == 404
