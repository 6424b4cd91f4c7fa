"""Stock pushes and reconciliation against the simulators (in-process, real HTTP)."""

from __future__ import annotations

import os
import time

import pytest

from portal.extensions import db
from portal.models import ProductBinding, SyncRun, WebhookEvent
from tests.conftest import wait_for
from tests.stock.helpers import (
    BINDO_LOCATION,
    bc_level,
    bound_product,
    many_bound_products,
)
from worker.sync import stock

ABSOLUTE = "PUT /v3/inventory/adjustments/absolute"


def absolute_requests(stack, store_hash: str) -> int:
    summary = stack.bc.request_summary(store_hash)["by_endpoint"]
    return sum(n for key, n in summary.items() if key.startswith("PUT /v3/inventory/adj"))


def test_push_sends_whole_non_negative_levels_and_records_the_watermark(stack):
    m = stack.linked_merchant("stk1")
    neg = bound_product(stack, m, stock={BINDO_LOCATION: "-3"})
    frac = bound_product(stack, m, stock={BINDO_LOCATION: "2.9"})
    result = stock.push_stock(m, None)
    assert result.sent == 2
    assert bc_level(stack, "stk1", neg.bc_product_id) == 0
    assert bc_level(stack, "stk1", frac.bc_product_id) == 2
    db.session.refresh(frac)
    assert frac.stock_pushed == {"1": 2}


def test_unchanged_levels_are_not_sent_again(stack):
    m = stack.linked_merchant("stk2")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 4})
    stock.push_stock(m, None)
    stack.bc.reset_requests()
    assert stock.push_stock(m, [b.bindo_product_id]).sent == 0
    assert absolute_requests(stack, "stk2") == 0
    stack.bindo.set_stock(m.bindo_store_id, b.bindo_product_id, BINDO_LOCATION, 1)
    assert stock.push_stock(m, [b.bindo_product_id]).sent == 1
    assert bc_level(stack, "stk2", b.bc_product_id) == 1


def test_safety_buffer_lowers_the_published_level(stack):
    m = stack.linked_merchant("stk3", safety_buffer=2)
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    stock.push_stock(m, None)
    assert bc_level(stack, "stk3", b.bc_product_id) == 3


def test_sum_mode_sums_two_bindo_locations(stack):
    locations = [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    m = stack.linked_merchant("stk4", locations=locations)
    b = bound_product(stack, m, stock={10: 2, 11: "3.5"})
    stock.push_stock(m, None)
    assert bc_level(stack, "stk4", b.bc_product_id) == 5


def test_map_mode_sends_each_bindo_location_to_its_bigcommerce_location(stack):
    from sandbox.bigcommerce.state import default_location

    locations = [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    m = stack.linked_merchant(
        "stk5", locations=locations, location_mode="map", location_map={"10": 1, "11": 2}
    )
    with stack.bc.lock:
        stack.bc.store("stk5").locations[2] = {**default_location(), "id": 2, "code": "L2"}
    b = bound_product(stack, m, stock={10: 4, 11: 7})
    stock.push_stock(m, None)
    assert bc_level(stack, "stk5", b.bc_product_id, 1) == 4
    assert bc_level(stack, "stk5", b.bc_product_id, 2) == 7


def test_reconcile_counts_and_fixes_drift(stack):
    m = stack.linked_merchant("stk6")
    a = bound_product(stack, m, stock={BINDO_LOCATION: 4})
    b = bound_product(stack, m, stock={BINDO_LOCATION: 6})
    stock.push_stock(m, None)
    with stack.bc.lock:  # a hand edit in the control panel, and a missed webhook
        stack.bc.store("stk6").stock[(a.bc_product_id, 1)] = 99
    stack.bindo.set_stock(m.bindo_store_id, b.bindo_product_id, BINDO_LOCATION, 1)
    result = stock.reconcile_stock(m)
    assert result.drift == 2
    assert bc_level(stack, "stk6", a.bc_product_id) == 4
    assert bc_level(stack, "stk6", b.bc_product_id) == 1
    db.session.refresh(m)
    assert m.last_drift_count == 2 and m.last_stock_reconciled_at is not None
    run = db.session.query(SyncRun).filter_by(kind="stock_reconcile").one()
    assert run.drift == 2 and run.state == "finished"
    assert stock.reconcile_stock(m).drift == 0


def test_echoes_of_our_own_pushes_cause_no_push(stack, redis_conn):
    m = stack.linked_merchant("stk7")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 4})
    stock.push_stock(m, None)
    stack.bc.reset_requests()
    echo = WebhookEvent(
        source="bigcommerce",
        event_key="echo-1",
        scope="store/product/inventory/updated",
        merchant_id=m.id,
        payload={"data": {"type": "product", "id": b.bc_product_id}},
    )
    db.session.add(echo)
    db.session.commit()
    stock.on_bigcommerce_inventory_echo(echo, m)
    assert absolute_requests(stack, "stk7") == 0
    assert not redis_conn.exists(stock.pending_key(m.id))


def test_inventory_events_of_unlinked_locations_are_ignored(stack, redis_conn):
    m = stack.linked_merchant("stk8")
    event = WebhookEvent(payload={"data": {"product_id": 5, "location_id": 99}})
    stock.on_bindo_inventory_updated(event, m)
    assert not redis_conn.exists(stock.pending_key(m.id))
    event = WebhookEvent(payload={"data": {"product_id": 5, "location_id": BINDO_LOCATION}})
    stock.on_bindo_inventory_updated(event, m)
    stock.on_bindo_inventory_updated(
        WebhookEvent(payload={"data": {"product_id": 6, "location_id": BINDO_LOCATION}}), m
    )
    assert stock.take_pending(m.id) == [5, 6]
    from portal.models import JobRecord

    jobs = db.session.query(JobRecord).filter_by(func=stock.PUSH_JOB).all()
    assert len(jobs) == 1  # the second event coalesced into the scheduled push


SCALE = 10_000


@pytest.mark.slow
def test_ten_thousand_changes_cost_at_most_five_requests(stack):
    m = stack.linked_merchant("stk9")
    many_bound_products(stack, m, SCALE, quantity=3)
    stack.bc.reset_requests()
    started = time.monotonic()
    result = stock.push_stock(m, None)
    elapsed = time.monotonic() - started
    assert result.sent == SCALE
    assert absolute_requests(stack, "stk9") <= 5
    print(f"\n{SCALE} levels pushed in {absolute_requests(stack, 'stk9')} requests, {elapsed:.1f}s")
    sample = db.session.query(ProductBinding).filter_by(merchant_id=m.id).first()
    assert bc_level(stack, "stk9", sample.bc_product_id) == 3
    stack.bc.reset_requests()
    assert stock.push_stock(m, None).sent == 0
    assert absolute_requests(stack, "stk9") == 0


def _unused() -> None:  # keep os imported for FULL_SCENARIOS readers
    os.environ.get("FULL_SCENARIOS")


def test_a_burst_of_stock_changes_gives_one_push_plus_at_most_one_follow_up(stack, worker_process):
    """Changes merge into one queued push (pending set + coalescing flag, no delayed job);
    changes made while it runs queue exactly one follow-up; every change reaches BigCommerce."""
    from portal.models import JobRecord
    from portal.queue import DEFAULT, get_queue

    m = stack.linked_merchant("stkburst")
    products = [bound_product(stack, m, stock={BINDO_LOCATION: 5}) for _ in range(4)]
    for p in products[:2]:
        stock.request_push(m, [p.bindo_product_id])
    queued = get_queue(DEFAULT).get_job_ids()
    assert len(queued) == 1  # one push for the burst
    assert stock.take_pending(m.id) == sorted(p.bindo_product_id for p in products[:2])

    # The push starts (its flag cleared), and more changes arrive while it runs.
    from portal.queue import clear_flag

    clear_flag(get_queue(DEFAULT).fetch_job(queued[0]))
    for p in products[2:]:
        stock.request_push(m, [p.bindo_product_id])
    assert len(get_queue(DEFAULT).get_job_ids()) == 2  # exactly one follow-up

    def pushed() -> bool:
        db.session.expire_all()
        return all(bc_level(stack, "stkburst", p.bc_product_id) == 5 for p in products)

    assert not pushed()
    worker_process("--no-ticker")

    wait_for(pushed, timeout=60)
    wait_for(lambda: get_queue(DEFAULT).count == 0, timeout=30)
    db.session.expire_all()
    runs = db.session.query(JobRecord).filter(JobRecord.func == stock.PUSH_JOB).all()
    assert len(runs) == 2 and stock.take_pending(m.id) == []


def test_a_push_that_would_wait_for_its_quota_is_deferred_and_frees_the_worker(
    stack, worker_process
):
    """One worker, two merchants. A's quota is spent for the next few seconds: its push is
    deferred to the refill instead of sleeping on the worker, so B's push, queued after it,
    goes through at once; A's level lands when A's quota refills."""
    from rq import Worker

    from portal.models import JobRecord
    from portal.queue import redis_conn
    from tests.stock.helpers import spend_quota

    a, b = stack.linked_merchant("stkquotaa"), stack.linked_merchant("stkquotab")
    pa = bound_product(stack, a, stock={BINDO_LOCATION: 6})
    pb = bound_product(stack, b, stock={BINDO_LOCATION: 9})
    before = bc_level(stack, a.store_hash, pa.bc_product_id)
    assert before != 6
    worker_process("--no-ticker")
    wait_for(lambda: Worker.count(connection=redis_conn()) >= 1, timeout=30)
    spend_quota(a.store_hash, 6_000)
    stock.request_push(a, [pa.bindo_product_id])
    stock.request_push(b, [pb.bindo_product_id])
    first_run = db.session.query(JobRecord).filter_by(merchant_id=a.id).one().job_id

    wait_for(lambda: bc_level(stack, b.store_hash, pb.bc_product_id) == 9, timeout=30)
    assert bc_level(stack, a.store_hash, pa.bc_product_id) == before  # A's quota is still spent

    def a_run() -> JobRecord:
        db.session.expire_all()
        return db.session.query(JobRecord).filter_by(merchant_id=a.id).one()

    assert a_run().state == "deferred" and "quota of store stkquotaa spent" in a_run().error
    wait_for(lambda: bc_level(stack, a.store_hash, pa.bc_product_id) == 6, timeout=30)
    wait_for(lambda: a_run().state == "finished", timeout=10)
    assert a_run().job_id != first_run  # the run that pushed: the deferred one
    assert stock.take_pending(a.id) == []


# --- issue 15 item 6: one bad item must not block a store's stock ------------------------------


def _delete_in_bigcommerce(stack, store_hash: str, bc_product_id: int) -> None:
    with stack.bc.lock:
        store = stack.bc.store(store_hash)
        del store.products[bc_product_id]
        for key in [k for k in store.stock if k[0] == bc_product_id]:
            del store.stock[key]


def _binding(binding_id: int) -> ProductBinding:
    db.session.expire_all()
    return db.session.get(ProductBinding, binding_id)


@pytest.mark.parametrize("run", ["push", "reconcile"])
def test_a_product_deleted_in_bigcommerce_is_unlinked_and_the_rest_is_pushed(stack, run):
    m = stack.linked_merchant(f"stk6{run[0]}")
    good = [bound_product(stack, m, stock={BINDO_LOCATION: 7}) for _ in range(4)]
    gone = bound_product(stack, m, stock={BINDO_LOCATION: 7})
    gone_bc_id = gone.bc_product_id
    _delete_in_bigcommerce(stack, m.store_hash, gone_bc_id)
    result = stock.push_stock(m, None) if run == "push" else stock.reconcile_stock(m)
    assert result.refused == 1
    for binding in good:
        assert bc_level(stack, m.store_hash, binding.bc_product_id) == 7
        assert _binding(binding.id).stock_pushed == {"1": 7}
    unlinked = _binding(gone.id)
    assert unlinked.bc_product_id is None and unlinked.sync_state == "failed"
    assert unlinked.error_code == "bc_notfound"
    assert "no longer exists" in unlinked.error_message  # what Sync errors shows staff
    # The next push no longer trips over it.
    stack.bindo.set_stock(m.bindo_store_id, good[0].bindo_product_id, BINDO_LOCATION, 2)
    assert stock.push_stock(m, None).refused == 0
    assert bc_level(stack, m.store_hash, good[0].bc_product_id) == 2


def test_a_tracking_mismatch_is_recorded_and_keeps_the_link(stack):
    m = stack.linked_merchant("stk6t")
    good = bound_product(stack, m, stock={BINDO_LOCATION: 4})
    odd = bound_product(stack, m, stock={BINDO_LOCATION: 4})
    with stack.bc.lock:
        stack.bc.store("stk6t").products[odd.bc_product_id]["inventory_tracking"] = "variant"
    result = stock.push_stock(m, None)
    assert result.refused == 1
    assert bc_level(stack, "stk6t", good.bc_product_id) == 4
    marked = _binding(odd.id)
    assert marked.bc_product_id == odd.bc_product_id and marked.sync_state == "failed"
    assert "tracked by variant" in marked.error_message
    assert not marked.stock_pushed  # sent again once fixed
