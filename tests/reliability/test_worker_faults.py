"""Faults with real worker processes (RELIABILITY.md T15, T16, T17, T18, T19).

Orders flow: BigCommerce simulator -> signed webhook over HTTP -> portal inbox -> RQ ->
worker.jobs.orders.import_order -> Bindo simulator. The Bindo simulator is slowed on order
creation so a job is reliably in flight when the fault hits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import ImportedOrder, JobRecord, Merchant, MerchantState
from tests.conftest import wait_for
from tests.orders.helpers import place_order, subscribe_orders
from tests.reliability.conftest import FULL, callback_jwt, size
from tests.stock.helpers import BINDO_LOCATION, bound_product

SCOPES = ("store/order/created",)


def setup_store(stack, store_hash: str):
    m = stack.linked_merchant(store_hash)
    subscribe_orders(stack, m, SCOPES)
    product = bound_product(stack, m, stock={BINDO_LOCATION: 1000})
    return m, product


def imported(merchant_id: int) -> int:
    db.session.expire_all()
    return (
        db.session.query(ImportedOrder).filter_by(merchant_id=merchant_id, state="imported").count()
    )


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


def scheduler_pid(worker) -> int:
    """RQ forks its scheduler too: never mistake it for the work horse."""
    import re

    def found():
        match = re.search(r"Scheduler for .* started with PID (\d+)", worker.log_path.read_text())
        return int(match.group(1)) if match else None

    return wait_for(found, timeout=20, interval=0.1)


def bindo_orders(stack, m) -> list[dict]:
    return stack.bindo.orders(m.bindo_store_id)


def assert_no_duplicates(stack, m, expected: int) -> None:
    refs = [o["external_reference"] for o in bindo_orders(stack, m)]
    assert len(refs) == len(set(refs)), "duplicate Bindo orders"
    assert len(refs) == expected


def test_t18_killing_the_work_horse_mid_import_retries_without_duplicates(stack, worker_process):
    m, product = setup_store(stack, "wk18")
    orders = size(3, 10)
    stack.bindo.inject_api_fault(status=None, delay=1.5, count=orders, path_contains="/orders")
    # Retries 2 s after a kill (the default is 10 s), in the clock that queues the imports too.
    worker = worker_process("--no-ticker", JOB_RETRY_SECONDS="2,4,8,16,32")
    scheduler = scheduler_pid(worker)
    for _ in range(orders):
        place_order(stack, "wk18", [{"product_id": product.bc_product_id, "quantity": 1}])
    stack.bc.wait_deliveries(timeout=30)
    killed = 0
    deadline = time.monotonic() + 30
    while killed < min(2, orders) and time.monotonic() < deadline:
        horses = [p for p in children(worker.proc.pid) if p != scheduler]
        started = db.session.scalar(
            select(JobRecord).where(
                JobRecord.func == "worker.jobs.orders.import_order", JobRecord.state == "started"
            )
        )
        db.session.expire_all()
        if horses and started is not None:
            time.sleep(0.3)  # inside the slowed Bindo call
            for pid in horses:
                os.kill(pid, signal.SIGKILL)
            killed += 1
            time.sleep(0.5)
        time.sleep(0.05)
    assert killed, "no import job was caught in flight"
    # The killed horse's order lock (ORDER_LOCK_SECONDS, 60 s) names its job, which RQ has
    # marked failed: the retry takes the lock over at once instead of waiting for it to expire.
    wait_for(lambda: imported(m.id) == orders, timeout=40, interval=0.5)
    assert_no_duplicates(stack, m, orders)
    assert worker.log_path.read_text().count("scheduled for retry") >= killed
    attempts = sorted(
        r.attempts
        for r in db.session.scalars(
            select(JobRecord).where(JobRecord.func == "worker.jobs.orders.import_order")
        )
    )
    print(
        f"\nT18: {orders} orders, {killed} horses SIGKILLed, attempts per job {attempts}, "
        f"0 duplicate Bindo orders"
    )


def test_t19_warm_shutdown_finishes_the_job_in_flight(stack, worker_process):
    m, product = setup_store(stack, "wk19")
    stack.bindo.inject_api_fault(status=None, delay=2.0, count=1, path_contains="/orders")
    worker = worker_process("--no-ticker")
    place_order(stack, "wk19", [{"product_id": product.bc_product_id, "quantity": 1}])

    def in_flight():
        db.session.expire_all()
        return db.session.scalar(
            select(JobRecord).where(
                JobRecord.func == "worker.jobs.orders.import_order", JobRecord.state == "started"
            )
        )

    wait_for(in_flight, timeout=30, interval=0.05)
    worker.proc.send_signal(signal.SIGTERM)  # one SIGTERM: warm shutdown
    assert worker.proc.wait(timeout=60) == 0
    assert imported(m.id) == 1
    assert_no_duplicates(stack, m, 1)
    print("\nT19: SIGTERM during a 2 s Bindo call: job finished, worker exited 0")


def test_t17_killing_the_worker_parent_loses_nothing_and_duplicates_nothing(stack, worker_process):
    """Parent SIGKILL: the orphaned horse may finish; the rest waits for RQ's abandoned-job
    cleanup (job timeout + maintenance). Default: 0 dups and every order either imported or
    visibly pending; FULL_SCENARIOS=1 also waits (<= 6 min) until a new worker imports all."""
    m, product = setup_store(stack, "wk17")
    orders = size(4, 10)
    stack.bindo.inject_api_fault(status=None, delay=1.0, count=orders, path_contains="/orders")
    worker = worker_process("--no-ticker", "--maintenance-interval", "5")
    for _ in range(orders):
        place_order(stack, "wk17", [{"product_id": product.bc_product_id, "quantity": 1}])
    stack.bc.wait_deliveries(timeout=30)

    def started():
        db.session.expire_all()
        return db.session.scalar(
            select(JobRecord).where(
                JobRecord.func == "worker.jobs.orders.import_order", JobRecord.state == "started"
            )
        )

    wait_for(started, timeout=30, interval=0.05)
    horses = children(worker.proc.pid)
    worker.proc.kill()
    worker.proc.wait()
    time.sleep(3)  # let an orphaned horse finish its call
    for pid in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker_process("--no-ticker", "--maintenance-interval", "5")
    if FULL:
        wait_for(lambda: imported(m.id) == orders, timeout=360, interval=2)
    else:
        time.sleep(5)
    done = imported(m.id)
    refs = [o["external_reference"] for o in bindo_orders(stack, m)]
    assert len(refs) == len(set(refs)), "duplicate Bindo orders"
    db.session.expire_all()
    states = sorted(
        r.state
        for r in db.session.scalars(
            select(JobRecord).where(JobRecord.func == "worker.jobs.orders.import_order")
        )
    )
    assert len(states) == orders
    assert set(states) <= {"finished", "started", "queued", "retrying", "failed"}
    print(
        f"\nT17: parent SIGKILLed with {orders} orders in flight: {done} imported, "
        f"{len(refs)} Bindo orders (0 dups), job states {states}"
    )


def test_t16_revoked_token_needs_reauth_after_one_401_and_no_further_calls(stack, worker_process):
    m, product = setup_store(stack, "wk16")
    worker_process("--no-ticker")
    place_order(stack, "wk16", [{"product_id": product.bc_product_id, "quantity": 1}])
    wait_for(lambda: imported(m.id) == 1, timeout=30, interval=0.2)
    stack.bc.revoke_token("wk16")
    stack.bc.reset_requests()
    for _ in range(size(3, 10)):
        place_order(stack, "wk16", [{"product_id": product.bc_product_id, "quantity": 1}])
    stack.bc.wait_deliveries(timeout=30)

    def state():
        db.session.expire_all()
        return db.session.get(Merchant, m.id).state == MerchantState.NEEDS_REAUTH.value

    wait_for(state, timeout=30, interval=0.2)
    time.sleep(3)  # the other events are processed (or ignored) meanwhile
    summary = stack.bc.request_summary("wk16")
    print(f"\nT16: requests to the revoked store: {summary}")
    assert summary["status_counts"] == {"401": 1}, summary  # one 401, then no call at all
    assert imported(m.id) == 1


def test_t15_uninstall_is_idempotent_and_queued_jobs_for_the_store_do_nothing(
    stack, client, worker_process
):
    m, product = setup_store(stack, "wk15")
    for _ in range(size(3, 10)):
        place_order(stack, "wk15", [{"product_id": product.bc_product_id, "quantity": 1}])
    stack.bc.wait_deliveries(timeout=30)  # events stored and import jobs queued: no worker yet
    for n in range(3):
        response = client.get(
            "/bigcommerce/uninstall", query_string={"signed_payload_jwt": callback_jwt("wk15")}
        )
        assert response.status_code == 200
        assert response.get_json()["changed"] is (n == 0)
    worker_process("--no-ticker")
    time.sleep(4)
    db.session.expire_all()
    assert db.session.get(Merchant, m.id).state == MerchantState.UNINSTALLED.value
    assert db.session.get(Merchant, m.id).access_token_enc is None
    assert bindo_orders(stack, m) == []
    assert imported(m.id) == 0
    print("\nT15: 3 uninstalls -> 1 change; queued imports for the store ran and did nothing")
