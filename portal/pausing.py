"""Orders that arrive while a store is paused: listed as waiting, imported at once on resume.

While paused, the inbox stores each BigCommerce order event and marks it ignored (workers do
not call either API for a paused store). Those rows are the list; resuming enqueues one import
per order straight away, plus an order sweep for any delivery that never reached us, instead
of leaving them to the next 15-minute sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, WebhookEvent
from portal.queue import HIGH, LOW, enqueue, make_job_id

# The BigCommerce scopes that mean "this order changed" (worker/sync/orders.py ORDER_SCOPES).
ORDER_SCOPES = (
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/refund/created",
)
IMPORT_JOB = "worker.jobs.orders.import_order"
SWEEP_JOB = "worker.jobs.orders.sweep_orders"
MAX_LISTED = 200


@dataclass(frozen=True)
class WaitingOrder:
    bc_order_id: int
    first_received_at: datetime
    events: int


def waiting_orders(merchant: Merchant) -> list[WaitingOrder]:
    """Orders with events received since the store was paused, oldest first."""
    if merchant.paused_at is None:
        return []
    rows = db.session.execute(
        select(WebhookEvent.payload, WebhookEvent.received_at)
        .where(
            WebhookEvent.merchant_id == merchant.id,
            WebhookEvent.source == "bigcommerce",
            WebhookEvent.scope.in_(ORDER_SCOPES),
            WebhookEvent.received_at >= merchant.paused_at,
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
        .limit(MAX_LISTED * 4)
    ).all()
    found: dict[int, WaitingOrder] = {}
    for payload, received_at in rows:
        data = (payload or {}).get("data") if isinstance(payload, dict) else None
        try:
            order_id = int((data or {})["id"])
        except (KeyError, TypeError, ValueError):
            continue
        seen = found.get(order_id)
        found[order_id] = WaitingOrder(
            order_id,
            seen.first_received_at if seen else received_at,
            (seen.events if seen else 0) + 1,
        )
    return list(found.values())[:MAX_LISTED]


def import_waiting_orders(merchant: Merchant, waiting: list[WaitingOrder]) -> int:
    """Enqueue each waiting order's import (the worker's job id, so they coalesce) and a sweep."""
    for order in waiting:
        enqueue(
            IMPORT_JOB,
            merchant.id,
            order.bc_order_id,
            queue=HIGH,
            job_id=make_job_id("order", merchant.store_hash, order.bc_order_id),
            merchant_id=merchant.id,
        )
    enqueue(
        SWEEP_JOB,
        merchant.id,
        queue=LOW,
        job_id=make_job_id("sweep_orders_resume", merchant.id),
        merchant_id=merchant.id,
    )
    return len(waiting)
