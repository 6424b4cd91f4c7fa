"""A full sync of 200 products (500 with FULL_SCENARIOS=1) through a real worker, then a second
one that writes nothing."""

from __future__ import annotations

from portal.extensions import db
from portal.models import SyncRun, SyncRunItem
from portal.queue import LOW, enqueue
from tests.catalog.helpers import make_category, new_product, total, writes
from tests.conftest import FULL_SCENARIOS, wait_for

PRODUCTS = 500 if FULL_SCENARIOS else 200  # four chunks of 50 and many steps either way


def stocked(stack, store_hash: str) -> int:
    """Products whose BigCommerce level was written by a stock push."""
    with stack.bc.lock:
        store = stack.bc.stores[store_hash]
        return sum(1 for p in store.products.values() if p["inventory_level"] > 0)


def _run_full_sync(merchant, kind: str) -> SyncRun:
    run = SyncRun(merchant_id=merchant.id, kind=kind)
    db.session.add(run)
    db.session.commit()
    enqueue("worker.jobs.catalog.full_sync", run.id, queue=LOW, merchant_id=merchant.id)

    def finished():
        db.session.expire_all()
        row = db.session.get(SyncRun, run.id)
        return row if row.state in ("finished", "failed") else None

    return wait_for(finished, timeout=240, interval=0.3)


def test_a_full_sync_through_a_worker_then_a_second_one_writes_nothing(stack, worker_process):
    merchant = stack.linked_merchant("full500")
    make_category(merchant, "Shoes")
    for i in range(PRODUCTS):
        new_product(stack, merchant, sku=f"F-{i}", image_count=0, stock={10: 3})
    worker_process("--no-ticker")

    first = _run_full_sync(merchant, "initial")

    assert first.state == "finished", first.error
    assert (first.total, first.done) == (PRODUCTS, PRODUCTS)
    assert first.counts["created"] == PRODUCTS
    assert len(stack.bc.stores["full500"].products) == PRODUCTS
    # 500 creates, one POST each; one channel assignment per batch of created products
    # (multi-storefront stores, issue 15 item 8: a chunk of 50, or fewer when a step stopped
    # early to let other work run, never fewer than 5); and their Bindo stock in absolute
    # inventory writes: the debounced stock push the creates request runs between the run's
    # steps (a step gives its worker up when stock work waits), so at most one write per step.
    wait_for(lambda: stocked(stack, "full500") == PRODUCTS)
    written = writes(stack, "full500")
    assert 1 <= written.pop("PUT /v3/inventory/adjustments/absolute") <= first.steps
    assigned = written.pop("PUT /v3/catalog/products/channel-assignments")
    assert PRODUCTS // 50 <= assigned <= PRODUCTS // 5
    assert written == {
        "POST /v3/catalog/trees/categories": 1,  # the test's own category
        "POST /v3/catalog/products": PRODUCTS,
    }

    stack.bc.reset_requests()
    second = _run_full_sync(merchant, "full")

    assert second.state == "finished", second.error
    assert second.counts["unchanged"] == PRODUCTS
    assert total(writes(stack, "full500")) == 0
    # Only non-unchanged outcomes get an item row.
    assert db.session.query(SyncRunItem).filter_by(run_id=second.id).count() == 0
