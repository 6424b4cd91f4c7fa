"""A 500-product full sync through a real worker, then a second one that writes nothing."""

from __future__ import annotations

from portal.extensions import db
from portal.models import SyncRun, SyncRunItem
from portal.queue import LOW, enqueue
from tests.catalog.helpers import make_category, new_product, total, writes
from tests.conftest import wait_for

PRODUCTS = 500


def _run_full_sync(merchant, kind: str) -> SyncRun:
    run = SyncRun(merchant_id=merchant.id, kind=kind)
    db.session.add(run)
    db.session.commit()
    enqueue("worker.jobs.catalog.full_sync", run.id, queue=LOW, merchant_id=merchant.id)

    def finished():
        db.session.expire_all()
        row = db.session.get(SyncRun, run.id)
        return row if row.state in ("finished", "failed") else None

    return wait_for(finished, timeout=80, interval=0.3)


def test_500_products_full_sync_then_second_sync_writes_nothing(stack, worker_process):
    merchant = stack.linked_merchant("full500")
    make_category(merchant, "Shoes")
    for i in range(PRODUCTS):
        new_product(stack, merchant, sku=f"F-{i}", image_count=0)
    worker_process("--no-ticker")

    first = _run_full_sync(merchant, "initial")

    assert first.state == "finished", first.error
    assert (first.total, first.done) == (PRODUCTS, PRODUCTS)
    assert first.counts["created"] == PRODUCTS
    assert len(stack.bc.stores["full500"].products) == PRODUCTS
    # 500 creates, one POST each, one channel assignment per batch of 50 created products
    # (multi-storefront stores, issue 15 item 8), and their Bindo stock in one absolute
    # inventory write (the debounced stock push the creates request); nothing else written.
    wait_for(lambda: "PUT /v3/inventory/adjustments/absolute" in writes(stack, "full500"))
    assert writes(stack, "full500") == {
        "POST /v3/catalog/trees/categories": 1,  # the test's own category
        "POST /v3/catalog/products": PRODUCTS,
        "PUT /v3/catalog/products/channel-assignments": PRODUCTS // 50,
        "PUT /v3/inventory/adjustments/absolute": 1,
    }

    stack.bc.reset_requests()
    second = _run_full_sync(merchant, "full")

    assert second.state == "finished", second.error
    assert second.counts["unchanged"] == PRODUCTS
    assert total(writes(stack, "full500")) == 0
    # Only non-unchanged outcomes get an item row.
    assert db.session.query(SyncRunItem).filter_by(run_id=second.id).count() == 0
