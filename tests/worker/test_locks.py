"""Store and order locks of killed jobs are taken over at once (worker/sync/locks.py).

Found by a flaky run of the killed-step test: the work horse killed was a stock push's, and
its store lock (600 s) made every later push of that store wait 120 s, holding the worker,
then fail. The per-product locks already had this rule; now every job lock has it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from portal.models import Merchant
from portal.queue import HIGH, get_queue
from worker.clients.errors import RetryableError
from worker.sync import orders, stock


@pytest.fixture
def holders(app, redis_conn):
    """Three RQ jobs: one RQ has marked failed (its horse was killed), one running now, one
    still queued."""
    app.extensions["redis"] = redis_conn
    queue = get_queue(HIGH)
    dead = queue.enqueue("worker.jobs.stock.push_stock", 1, job_id="killed-job")
    live = queue.enqueue("worker.jobs.stock.push_stock", 2, job_id="running-job")
    # Left "queued": after a Redis crash a restored hash can say so while its orphaned
    # work horse still runs, so it proves nothing.
    queue.enqueue("worker.jobs.stock.push_stock", 3, job_id="restored-job")
    dead.set_status("failed")
    live.set_status("started")
    live.heartbeat(datetime.now(UTC), 60)
    return {"dead": "killed-job|aaaa", "live": "running-job|bbbb", "queued": "restored-job|dddd"}


def locks(merchant: Merchant):
    return [
        (f"bc:stock-lock:{merchant.id}", lambda: stock.merchant_lock(merchant), TimeoutError),
        (
            f"bc:order-lock:{merchant.id}:77",
            lambda: orders.order_lock(merchant, 77),
            RetryableError,
        ),
    ]


def test_a_killed_jobs_store_and_order_locks_are_taken_over_at_once(holders, redis_conn):
    merchant = Merchant(id=5, store_hash="lk5")
    for key, lock, _busy in locks(merchant):
        redis_conn.set(key, holders["dead"], ex=600)
        started = time.monotonic()
        with lock():
            assert redis_conn.get(key).decode() != holders["dead"]  # ours now
        assert time.monotonic() - started < 5  # not the 600 s TTL, nor the 120 s wait
        assert redis_conn.get(key) is None  # released by its new owner


def test_a_running_jobs_lock_is_waited_for_then_the_job_is_retried_later(
    holders, redis_conn, monkeypatch
):
    monkeypatch.setattr(stock, "LOCK_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(orders, "ORDER_LOCK_WAIT_SECONDS", 0.3)
    merchant = Merchant(id=6, store_hash="lk6")
    for key, lock, busy in locks(merchant):
        redis_conn.set(key, holders["live"], ex=600)
        with pytest.raises(busy), lock():
            pass
        assert redis_conn.get(key).decode() == holders["live"]  # untouched


def test_a_lock_not_known_to_be_dead_is_freed_only_by_its_ttl(holders, redis_conn, monkeypatch):
    monkeypatch.setattr(stock, "LOCK_WAIT_SECONDS", 0.3)
    merchant = Merchant(id=7, store_hash="lk7")
    key = f"bc:stock-lock:{merchant.id}"
    for value in ("|cccc", "a-token-of-another-format", holders["queued"]):
        redis_conn.set(key, value, ex=600)
        with pytest.raises(TimeoutError), stock.merchant_lock(merchant):
            pass
        assert redis_conn.get(key).decode() == value
