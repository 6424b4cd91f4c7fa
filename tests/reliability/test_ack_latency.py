"""T01: every acknowledged delivery is committed, and acks stay fast while the worker side is slow.

The portal is served over HTTP (tests/stack.py), a real worker runs, and both simulators are
slowed (BigCommerce answers order reads with a 504 after 1 s, Bindo takes 1 s per call), so
jobs pile up and the worker writes to the same database while deliveries arrive. Deliveries
come from a few threads at a bounded rate; each is signed as BigCommerce signs it.
"""

from __future__ import annotations

import threading
import time

import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import WebhookEvent
from tests.orders.helpers import place_order
from tests.reliability.conftest import percentile, post_bc_event, size
from tests.stock.helpers import BINDO_LOCATION, bound_product

SENDERS = 4
RATE_PER_SECOND = 25.0  # all senders together (the spec's 20/s, a little above)
P99_LIMIT = 0.300


def test_t01_acked_deliveries_are_committed_and_p99_ack_stays_under_300ms(stack, worker_process):
    deliveries = size(200, 1000)
    m = stack.linked_merchant("rel01")
    product = bound_product(stack, m, stock={BINDO_LOCATION: 1_000_000})
    # Real orders (no hooks subscribed: only our deliveries reach the portal).
    order_ids = [
        place_order(stack, "rel01", [{"product_id": product.bc_product_id, "quantity": 1}])
        for _ in range(min(deliveries, 50))
    ]
    # The worker side is slow: every BigCommerce call 1 s then 504, every Bindo call 1 s.
    stack.bc.add_fault("timeout", count=100_000, delay=1.0)
    stack.bindo.inject_api_fault(status=None, delay=1.0, count=100_000, path_contains="/")
    worker_process("--no-ticker")
    worker_process("--no-ticker")
    sender_key = (m.store_hash, m.hook_secret)
    time.sleep(2)  # workers up

    results: list[tuple[int, float, str]] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2
    interval = 1.0 / RATE_PER_SECOND

    def sender(offset: int) -> None:
        with requests.Session() as session:
            for n in range(offset, deliveries, SENDERS):
                due = start + n * interval
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                scope = ("store/order/created", "store/order/updated")[n % 2]
                data = {"type": "order", "id": order_ids[n % len(order_ids)]}
                try:
                    outcome = post_bc_event(session, stack.portal_url, sender_key, scope, data)
                except requests.RequestException as exc:
                    outcome = (0, 99.0, repr(exc))
                with lock:
                    results.append(outcome)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60 + deliveries * interval * 2)
    elapsed = time.monotonic() - start

    assert len(results) == deliveries
    statuses = sorted({status for status, _, _ in results})
    latencies = [seconds for _, seconds, _ in results]
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    acked = {msg_id for status, _, msg_id in results if 200 <= status < 300}
    db.session.expire_all()
    rows = db.session.scalar(
        select(func.count()).select_from(WebhookEvent).where(WebhookEvent.merchant_id == m.id)
    )
    keys = set(
        db.session.scalars(select(WebhookEvent.event_key).where(WebhookEvent.merchant_id == m.id))
    )
    busy = db.session.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.merchant_id == m.id, WebhookEvent.state != "received")
    )
    print(
        f"\nT01: {deliveries} deliveries in {elapsed:.1f}s from {SENDERS} threads, statuses "
        f"{statuses}; ack p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, p99 "
        f"{p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; {rows} inbox rows; "
        f"{busy} rows taken by the (slowed) workers meanwhile"
    )
    assert statuses == [200], statuses
    assert len(acked) == deliveries
    assert rows == deliveries
    assert keys == acked  # every acknowledged delivery has its committed row, nothing else
    assert p99 <= P99_LIMIT, f"p99 ack {p99 * 1000:.0f} ms"
