"""T20 (Redis restart under load) and T21 (FLUSHALL mid-run) with real workers.

Each test runs its own ``redis-server`` (tests/reliability/conftest.py ``own_redis``, AOF
everysec as in production) and points the served portal, the in-process relay and the
worker subprocesses at it; the shared Redis is never touched. Orders flow from the
BigCommerce simulator over signed webhooks to the portal inbox, RQ and the Bindo simulator.
The relay (``worker.inbox.relay_inbox``, run by the clock process) is also called in-process with
its 60 s re-send age shortened, so a run takes seconds, not minutes.
"""

from __future__ import annotations

import time

import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ImportedOrder, JobRecord, WebhookEvent
from portal.queue import HIGH, enqueue, get_queue
from tests.conftest import wait_for
from tests.orders.helpers import place_order, subscribe_orders
from tests.reliability.conftest import FULL, size
from tests.stock.helpers import BINDO_LOCATION, bound_product

SCOPES = ("store/order/created",)


def setup_store(stack, store_hash: str):
    m = stack.linked_merchant(store_hash)
    subscribe_orders(stack, m, SCOPES)
    product = bound_product(stack, m, stock={BINDO_LOCATION: 100_000})
    return m, product


def imported(merchant_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count())
        .select_from(ImportedOrder)
        .where(ImportedOrder.merchant_id == merchant_id, ImportedOrder.state == "imported")
    )


def unfinished_events(merchant_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(
            WebhookEvent.merchant_id == merchant_id,
            WebhookEvent.state.in_(("received", "processing")),
        )
    )


def bindo_refs(stack, m) -> list[str]:
    return [o["external_reference"] for o in stack.bindo.orders(m.bindo_store_id)]


def queues_idle(conn) -> bool:
    """Nothing queued, started or scheduled in the private Redis."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    for name in ("high", "default", "low"):
        queue = Queue(name, connection=conn)
        if queue.count or StartedJobRegistry(queue=queue).count:
            return False
        if ScheduledJobRegistry(queue=queue).count:
            return False
    return True


def diagnose(m, conn) -> str:
    """What the orders that did not arrive are waiting for (for a failing run's message)."""
    from rq.job import Job

    from portal.models import JobRecord

    db.session.expire_all()
    rows = db.session.scalars(
        select(ImportedOrder).where(
            ImportedOrder.merchant_id == m.id, ImportedOrder.state != "imported"
        )
    ).all()
    lines = []
    for row in rows:
        prefix = f"order-{m.store_hash}-{row.bc_order_id}"
        jobs = db.session.scalars(select(JobRecord).where(JobRecord.job_id.like(f"{prefix}%")))
        described = []
        for job in jobs:
            try:
                status = Job.fetch(job.job_id, connection=conn).get_status()
            except Exception as exc:  # noqa: BLE001 - diagnostics only
                status = type(exc).__name__
            described.append(f"{job.job_id}:{job.state}/{status}/{(job.error or '')[:80]}")
        lines.append(f"#{row.bc_order_id} {row.state} {row.error_message} {described}")
    return " | ".join(lines) or "no ImportedOrder row left unimported"


def relay_until_done(m, conn, passes: int, drain_timeout: float) -> int:
    """Run the relay, let the workers drain, repeat; returns the passes it took."""
    from worker.inbox import relay_inbox

    for n in range(1, passes + 1):
        relay_inbox()
        try:
            wait_for(lambda: unfinished_events(m.id) == 0, timeout=drain_timeout, interval=0.3)
        except AssertionError:
            continue
        return n
    return passes + 1


@pytest.fixture
def fast_relay(monkeypatch):
    import worker.inbox

    monkeypatch.setattr(worker.inbox, "RELAY_AFTER_SECONDS", 1)


# The default run compresses the waits a killed import causes (its order lock outlives it,
# then its retries back off) fivefold; FULL_SCENARIOS=1 runs the production settings.
COMPRESSED = {"JOB_RETRY_SECONDS": [2, 6, 12, 24, 60], "ORDER_LOCK_SECONDS": 12}
COMPRESSED_ENV = {"JOB_RETRY_SECONDS": "2,6,12,24,60", "ORDER_LOCK_SECONDS": "12"}


def test_t20_redis_restart_under_load_loses_and_duplicates_nothing(
    app, stack, own_redis, worker_process, fast_relay, monkeypatch
):
    per_phase = size(8, 100)
    down_seconds = 60 if FULL else 5
    timings = {} if FULL else COMPRESSED_ENV
    for key, value in ({} if FULL else COMPRESSED).items():  # the sweep enqueues from here
        monkeypatch.setitem(app.config, key, value)
    m, product = setup_store(stack, "rel20")
    line = [{"product_id": product.bc_product_id, "quantity": 1}]
    stack.bindo.inject_api_fault(status=None, delay=0.3, count=per_phase, path_contains="/orders")
    # Supervised as in production: a worker that quits when Redis dies under its job is
    # started again by the process manager.
    workers = [
        worker_process(
            "--no-ticker",
            "--maintenance-interval",
            "5",
            supervise=True,
            REDIS_URL=own_redis.url,
            **timings,
        )
        for _ in range(2)
    ]
    # Phase 1: load, then Redis is killed while imports are in flight.
    for _ in range(per_phase):
        place_order(stack, "rel20", line)
    wait_for(lambda: imported(m.id) >= 1, timeout=60, interval=0.1)
    own_redis.stop(kill=True)
    down_at = time.monotonic()
    # Phase 2: orders while Redis is down: every delivery is still acknowledged.
    for _ in range(per_phase):
        place_order(stack, "rel20", line)
    assert stack.bc.wait_deliveries(timeout=60)
    outcomes = sorted({(d["attempt"], d["status"]) for d in stack.bc.deliveries})
    assert outcomes == [(0, 200)], outcomes  # first attempt, 200, for every event
    db.session.expire_all()
    not_enqueued = db.session.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.merchant_id == m.id, WebhookEvent.enqueued_at.is_(None))
    )
    assert not_enqueued >= per_phase  # stored, never queued: the relay's work list
    time.sleep(max(0.0, down_seconds - (time.monotonic() - down_at)))
    own_redis.start()
    up_at = time.monotonic()
    # Phase 3: new orders after Redis is back flow through the same (never restarted) workers.
    before = imported(m.id)
    for _ in range(per_phase):
        place_order(stack, "rel20", line)
    wait_for(lambda: imported(m.id) >= before + per_phase, timeout=60, interval=0.2)
    resumed = time.monotonic() - up_at
    alive = [w.proc.poll() is None for w in workers]
    # The relay enqueues what was received while Redis was down (and anything the kill lost).
    passes = relay_until_done(m, own_redis.client(), passes=3, drain_timeout=30 + per_phase)
    after_relay = imported(m.id)
    # One sweep imports orders whose import job died with Redis (the event was processed).
    from worker.sync.orders import sweep_orders

    swept = sweep_orders(m)
    total = 3 * per_phase
    # An import killed with Redis keeps its order lock (restored from the AOF, 60 s TTL); its
    # retry then backs off 10 s, 30 s, 60 s: such an order can take ~100 s to land (a fifth of
    # that with the compressed timings).
    swept_at = time.monotonic()
    try:
        wait_for(lambda: imported(m.id) == total, timeout=180 + total, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {diagnose(m, own_redis.client())}") from None
    after_sweep = time.monotonic() - swept_at
    refs = bindo_refs(stack, m)
    print(
        f"\nT20: {total} orders, Redis SIGKILLed for {down_seconds}s under load; "
        f"{per_phase} deliveries while down all 200 on the first attempt; workers serving "
        f"{alive} after {[w.restarts for w in workers]} restarts, new orders imported "
        f"{resumed:.1f}s after Redis returned; relay done in "
        f"{passes} pass(es), {after_relay}/{total} imported before the sweep, sweep {swept}, "
        f"all imported {after_sweep:.1f}s after it; {len(refs)} Bindo orders"
    )
    assert all(alive), "a worker is not running"
    assert resumed <= 30
    assert passes <= 2
    assert len(refs) == len(set(refs)) == total  # 0 duplicates, 0 lost


@pytest.mark.full_only  # waits out RQ's 61 s scheduler locks: about 70 s
def test_delayed_jobs_run_again_after_redis_dies_under_a_running_job(
    app, own_redis, worker_process
):
    """RQ as shipped: the worker quits when Redis dies under its job and the supervisor starts
    a new one; the quit worker's scheduler locks come back from the AOF (61 s), and RQ's
    maintenance starts the new worker's scheduler once they expire. Delayed jobs (retries,
    catalog continuations) then run: a bounded wait (docs/architecture.md), nothing lost."""
    conn = own_redis.client()
    worker_process(
        "--no-ticker",
        "--maintenance-interval",
        "5",
        "--worker-ttl",
        "20",
        supervise=True,
        REDIS_URL=own_redis.url,
    )
    wait_for(lambda: conn.keys("*scheduler-lock*"), timeout=30)
    time.sleep(1.5)  # the locks are on disk (AOF fsync each second)
    high = get_queue(HIGH)
    high.enqueue("time.sleep", 3, job_id="busy-when-redis-dies")
    wait_for(lambda: StartedJobRegistry(queue=high).get_job_ids(), timeout=30)
    own_redis.stop(kill=True)
    time.sleep(5)  # the job ends while Redis is down: the worker cannot record it and quits
    own_redis.start()
    assert conn.keys("*scheduler-lock*")  # restored, held by the quit worker's scheduler
    record = enqueue("worker.jobs.diagnostics_echo", "later", job_id="diag-later", delay=1)

    def finished() -> bool:
        db.session.expire_all()
        return db.session.get(JobRecord, record.id).state == "finished"

    wait_for(finished, timeout=150, interval=0.5)


def test_t21_flushall_mid_run_relay_reenqueues_every_unfinished_event(
    stack, own_redis, worker_process, fast_relay
):
    """Two wipes: (1) every event received and queued, no worker yet: all jobs vanish;
    (2) later, while imports are in flight: the import jobs queued by processed events vanish."""
    orders = size(16, 200)
    m, product = setup_store(stack, "rel21")
    line = [{"product_id": product.bc_product_id, "quantity": 1}]
    # Slow Bindo so a backlog of import jobs sits in Redis at the second wipe.
    stack.bindo.inject_api_fault(status=None, delay=0.4, count=orders, path_contains="/orders")
    for _ in range(orders):
        place_order(stack, "rel21", line)
    assert stack.bc.wait_deliveries(timeout=60)
    conn = own_redis.client()
    queued_before_wipe = conn.llen("rq:queue:high")
    conn.flushall()  # wipe 1
    unfinished_at_wipe = unfinished_events(m.id)
    time.sleep(1.1)  # older than the (shortened) relay age
    worker_process("--no-ticker", "--maintenance-interval", "5", REDIS_URL=own_redis.url)
    passes = relay_until_done(m, conn, passes=3, drain_timeout=30 + orders)
    wait_for(lambda: imported(m.id) >= 2, timeout=60, interval=0.1)
    conn.flushall()  # wipe 2: import jobs in the queue are gone
    at_wipe = imported(m.id)
    relay_until_done(m, conn, passes=1, drain_timeout=10)
    wait_for(lambda: queues_idle(conn), timeout=60 + orders, interval=0.3)
    after_relay = imported(m.id)
    from worker.sync.orders import sweep_orders

    swept = sweep_orders(m)
    wait_for(lambda: imported(m.id) == orders, timeout=60 + orders, interval=0.3)
    refs = bindo_refs(stack, m)
    print(
        f"\nT21: {orders} orders; wipe 1 with {queued_before_wipe} jobs queued and "
        f"{unfinished_at_wipe} events unfinished: the relay re-enqueued them all, every event "
        f"done in {passes} pass(es); wipe 2 with {at_wipe} imported: {after_relay}/{orders} "
        f"imported without a sweep (import jobs queued by processed events died with Redis and "
        f"nothing re-sends them); one sweep {swept}; {len(refs)} Bindo orders"
    )
    assert unfinished_at_wipe == orders
    assert passes <= 2
    assert unfinished_events(m.id) == 0
    assert len(refs) == len(set(refs)) == orders
