"""Orders, BigCommerce -> Bindo: import once, then follow cancellations and refunds.

Webhooks are only hints: every run re-fetches the order, its lines and shipping addresses, so
duplicate, late or reordered events all converge on BigCommerce's current state. Exactly-once
effects come from keys, not from the queue: the ImportedOrder row is unique per (merchant,
order), the Bindo order is created with ``external_reference`` (a second create replays), a
cancel is a no-op in Bindo the second time, and a refund carries a reference derived from the
cumulative refunded quantities (a retry replays it). See docs/stock-and-orders.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.alerts import raise_alert
from portal.extensions import db
from portal.models import ImportedOrder, Merchant, ProductBinding, WebhookEvent, audit, utcnow
from portal.queue import HIGH, enqueue, make_job_id
from shared.mapping import (
    bindo_refund,
    customer_from_billing,
    external_reference,
    is_cancelled,
    is_refunded,
    is_waiting,
    map_order,
    refund_reference,
    should_import,
)
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.bindo import BindoClient
from worker.clients.errors import Conflict, RetryableError
from worker.context import bc_client, bindo_client, redis
from worker.inbox import handles
from worker.periodic import enqueue_when_due, periodic
from worker.sync import variant_orders
from worker.sync.locks import job_lock

log = logging.getLogger(__name__)

IMPORT_JOB = "worker.jobs.orders.import_order"
SWEEP_JOB = "worker.jobs.orders.sweep_orders"
SWEEP_OVERLAP = timedelta(minutes=5)  # clock skew and same-second modifications
FIRST_SWEEP_LOOKBACK = timedelta(days=1)  # a merchant activated before activated_at existed
# The lock's lifetime is the ORDER_LOCK_SECONDS setting (60 s: longer than any import, well
# under the high queue's 120 s job timeout); a run that finds the order busy waits a few
# seconds only, then retries later instead of holding its worker.
ORDER_LOCK_WAIT_SECONDS = 5
# BigCommerce calls of an import (order, its products, its shipping addresses): what a
# deferred import reserves in the window it comes back in (worker/clients/pacing.py). An order
# with a coupon takes a fourth, unknown until the order is read. Reserving 4 was measured
# (bench_intake, 2026-12-05 night): it left a quarter of each window unused by a backlog of
# coupon-free orders (200 in 152 s against 123 s), and gained nothing for coupon orders (157 s
# either way, the quota bound); reserving 3 costs those only a second deferral for some.
IMPORT_CALLS = 3

# Every order event means "this order changed": all lead to the same re-fetching import.
ORDER_SCOPES = (
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/refund/created",
)

# ImportedOrder.state values
WAITING, SKIPPED, IMPORTED, CANCELLED = "waiting", "skipped", "imported", "cancelled"
REFUNDED, PARTIALLY_REFUNDED, FAILED = "refunded", "partially_refunded", "failed"
FLAG_UNKNOWN_LINES, FLAG_NO_EMAIL = "unknown_lines", "no_email"


@dataclass(frozen=True)
class FetchedOrder:
    """BigCommerce's current view of one order."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    addresses: list[dict[str, Any]]
    coupons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status_id(self) -> int:
        return int(self.order.get("status_id") or 0)


def import_job_id(merchant: Merchant, bc_order_id: int) -> str:
    return make_job_id("order", merchant.store_hash, bc_order_id)


def request_import(merchant: Merchant, bc_order_id: int) -> None:
    """Enqueue (or coalesce with a still-queued) import of one order on the HIGH queue."""
    enqueue(
        IMPORT_JOB,
        merchant.id,
        int(bc_order_id),
        queue=HIGH,
        job_id=import_job_id(merchant, bc_order_id),
        merchant_id=merchant.id,
    )


# --- the row -------------------------------------------------------------------------------


def get_or_create_row(merchant: Merchant, bc_order_id: int) -> ImportedOrder:
    """The order's row, created first; a concurrent creator wins and we read its row."""
    stmt = select(ImportedOrder).where(
        ImportedOrder.merchant_id == merchant.id, ImportedOrder.bc_order_id == bc_order_id
    )
    row = db.session.scalar(stmt)
    if row is not None:
        return row
    row = ImportedOrder(merchant_id=merchant.id, bc_order_id=bc_order_id, flags=[])
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        row = db.session.scalar(stmt)
        if row is None:
            raise
    return row


def add_flag(row: ImportedOrder, flag: str) -> None:
    if flag not in (row.flags or []):
        row.flags = [*(row.flags or []), flag]  # new list: the JSON column sees the change


def order_lock(merchant: Merchant, bc_order_id: int) -> AbstractContextManager[None]:
    """Serialise runs for one order (two workers, a webhook and the sweep).

    Not the guarantee (the keys above are) but it keeps two runs from computing the same
    refund against different BigCommerce snapshots. The lock of a killed import is taken
    over at once; a live run's is waited for a few seconds, then the job is retried later.
    """
    return job_lock(
        redis(),
        f"bc:order-lock:{merchant.id}:{bc_order_id}",
        ttl=int(current_app.config["ORDER_LOCK_SECONDS"]),
        wait=ORDER_LOCK_WAIT_SECONDS,
        busy=lambda: RetryableError(
            f"order {bc_order_id} of {merchant.store_hash} is being imported by another run",
            retry_after=10,
        ),
    )


# --- reading BigCommerce -------------------------------------------------------------------


def _has_coupon(order: Mapping[str, Any]) -> bool:
    try:
        return Decimal(str(order.get("coupon_discount") or "0")) != 0
    except ArithmeticError:
        return False


def fetch_order(client: BigCommerceClient, bc_order_id: int) -> FetchedOrder:
    """The order, its lines and addresses; its coupons (codes) only when it has a coupon."""
    order = client.get_order(bc_order_id)
    return FetchedOrder(
        order=order,
        lines=client.get_order_products(bc_order_id),
        addresses=client.get_order_shipping_addresses(bc_order_id),
        coupons=client.get_order_coupons(bc_order_id) if _has_coupon(order) else [],
    )


# --- building the Bindo order --------------------------------------------------------------


def order_location(merchant: Merchant) -> int:
    """The Bindo location an online order sells from (and is restocked to).

    "map" mode: the Bindo location mapped to the BigCommerce location we publish to; else (or
    when none is) the first linked location.
    """
    linked = [int(loc) for loc in merchant.bindo_location_ids or ()]
    if not linked:
        raise ValueError(f"merchant {merchant.store_hash} has no linked Bindo location")
    if merchant.location_mode == "map":
        for loc in linked:
            if (merchant.location_map or {}).get(str(loc)) == merchant.bc_location_id:
                return loc
    return linked[0]


def bindings_for(
    merchant: Merchant, lines: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, int], dict[str, int]]:
    """(bc_product_id -> bindo id, casefolded SKU -> bindo id) for this order's lines only."""
    bc_ids = sorted({int(line["product_id"]) for line in lines if line.get("product_id")})
    skus = sorted({str(line["sku"]).strip().casefold() for line in lines if line.get("sku")})
    by_id: dict[int, int] = {}
    by_sku: dict[str, int] = {}
    base = select(ProductBinding).where(ProductBinding.merchant_id == merchant.id)
    if bc_ids:
        for b in db.session.scalars(base.where(ProductBinding.bc_product_id.in_(bc_ids))):
            by_id[int(b.bc_product_id)] = b.bindo_product_id
    if skus:
        for b in db.session.scalars(base.where(func.lower(ProductBinding.sku).in_(skus))):
            by_sku.setdefault(b.sku.strip().casefold(), b.bindo_product_id)
    return by_id, by_sku


def resolve_customer(bindo: BindoClient, billing: Mapping[str, Any] | None) -> int | None:
    """The Bindo customer with the billing e-mail (any case), created if needed; None if none.

    A 409 on create means another run (or the shop) created it just now: look it up again.
    """
    wanted = customer_from_billing(billing)
    if wanted is None:
        return None
    found = bindo.find_customer_by_email(wanted["email"])
    if found is not None:
        return int(found["id"])
    try:
        return int(bindo.create_customer(**wanted)["id"])
    except Conflict:
        found = bindo.find_customer_by_email(wanted["email"])
        if found is None:
            raise
        return int(found["id"])


def create_bindo_order(
    merchant: Merchant, row: ImportedOrder, fetched: FetchedOrder, bindo: BindoClient
) -> None:
    """Create (or find, on a retry) the Bindo order; Bindo lowers stock with it atomically."""
    billing = fetched.order.get("billing_address")
    if row.bindo_customer_id is None:
        row.bindo_customer_id = resolve_customer(bindo, billing)
    if row.bindo_customer_id is None:
        add_flag(row, FLAG_NO_EMAIL)
    by_id, by_sku = bindings_for(merchant, fetched.lines)
    mapped = map_order(
        fetched.order,
        fetched.lines,
        fetched.addresses,
        store_hash=merchant.store_hash,
        location_id=order_location(merchant),
        product_bindings=by_id,
        customer_id=row.bindo_customer_id,
        sku_bindings=by_sku,
        coupons=fetched.coupons,
    )
    mapped = variant_orders.with_variants(merchant, mapped, fetched.lines)
    if mapped.unknown_lines:
        add_flag(row, FLAG_UNKNOWN_LINES)
    order, replayed = bindo.create_order(mapped.body)
    row.bindo_order_id = int(order["id"])
    row.total = str(order.get("total") or fetched.order.get("total_inc_tax") or "")
    row.state, row.imported_at = IMPORTED, utcnow()
    audit(
        "order.imported",
        merchant=merchant,
        bc_order_id=row.bc_order_id,
        bindo_order_id=row.bindo_order_id,
        replayed=replayed,
        unknown_lines=[u.line_id for u in mapped.unknown_lines],
    )
    db.session.commit()


# --- lifecycle -----------------------------------------------------------------------------


def apply_refunds(
    merchant: Merchant,
    row: ImportedOrder,
    fetched: FetchedOrder,
    bindo: BindoClient,
    bc: BigCommerceClient,
) -> bool:
    """Apply in Bindo each BigCommerce refund it has not got yet (lines restocked).

    Refunds are read through the v3 refunds API, one Bindo refund per BigCommerce refund,
    keyed by its id: a second partial refund (the status stays 14, so no statusUpdated) is a
    new refund, and a replayed webhook or a crashed run re-sends a known reference, which Bindo
    answers without refunding again.
    """
    bindo_order = bindo.get_order(row.bindo_order_id)
    done = {r.get("reference") for r in bindo_order.get("refunds") or ()}
    applied = False
    for refund in bc.get_order_refunds(row.bc_order_id):
        reference = refund_reference(merchant.store_hash, row.bc_order_id, int(refund["id"]))
        if reference in done:
            continue
        body = bindo_refund(refund, bindo_order)
        created, replayed = bindo.create_refund(
            row.bindo_order_id,
            reference=reference,
            line_items=body["line_items"],
            restock=True,
            amount=body["amount"],
        )
        audit(
            "order.refunded",
            merchant=merchant,
            bc_order_id=row.bc_order_id,
            bc_refund_id=refund["id"],
            reference=reference,
            lines=body["line_items"],
            amount=body["amount"],
            replayed=replayed,
            refund_id=created.get("id"),
        )
        applied = True
        bindo_order = bindo.get_order(row.bindo_order_id)  # the next refund's caps
    return applied


def refunded_amount(order: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(order.get("refunded_amount") or "0"))
    except ArithmeticError:
        return Decimal(0)


def follow_lifecycle(
    merchant: Merchant,
    row: ImportedOrder,
    fetched: FetchedOrder,
    bindo: BindoClient,
    bc: BigCommerceClient,
) -> None:
    """Cancel or refund the Bindo order to match BigCommerce's current status."""
    status = fetched.status_id
    refunded_any = any(int(line.get("quantity_refunded") or 0) for line in fetched.lines)
    if refunded_any or is_refunded(status) or refunded_amount(fetched.order) > 0:
        apply_refunds(merchant, row, fetched, bindo, bc)
        fully = all(
            int(line.get("quantity_refunded") or 0) >= int(line.get("quantity") or 0)
            for line in fetched.lines
        )
        row.state = REFUNDED if fully or status == 4 else PARTIALLY_REFUNDED
    # What the sweep compares: a later refund changes it even when the status does not.
    row.refunded_amount = str(refunded_amount(fetched.order))
    if is_cancelled(status):
        if row.state != CANCELLED:
            bindo.cancel_order(row.bindo_order_id, restock=True)  # a no-op the second time
            audit("order.cancelled", merchant=merchant, bc_order_id=row.bc_order_id)
        row.state = CANCELLED
    db.session.commit()


# --- the import ----------------------------------------------------------------------------


def import_order(merchant: Merchant, bc_order_id: int) -> str:
    """Bring one BigCommerce order's current state into Bindo; returns the row's state."""
    bc = bc_client(merchant, deferred_calls=IMPORT_CALLS)
    with order_lock(merchant, bc_order_id):
        fetched = fetch_order(bc, bc_order_id)
        row = get_or_create_row(merchant, bc_order_id)
        row.attempts = (row.attempts or 0) + 1
        row.bc_status_id = fetched.status_id
        bindo = bindo_client(merchant)
        if row.bindo_order_id is None and not adopt_existing(merchant, row, fetched, bindo):
            if not should_import(fetched.status_id):
                row.state = WAITING if is_waiting(fetched.status_id) else SKIPPED
                row.error_message = None
                db.session.commit()
                return row.state
            create_bindo_order(merchant, row, fetched, bindo)
        follow_lifecycle(merchant, row, fetched, bindo, bc)
        row.error_message = None
        db.session.commit()
        return row.state


def adopt_existing(
    merchant: Merchant, row: ImportedOrder, fetched: FetchedOrder, bindo: BindoClient
) -> bool:
    """A cancelled or declined order we never recorded may still have been created in Bindo
    by a run that crashed before its commit: find it by reference so it is cancelled too."""
    if is_waiting(fetched.status_id) or should_import(fetched.status_id):
        return False
    found = bindo.find_order_by_reference(external_reference(merchant.store_hash, row.bc_order_id))
    if found is None:
        return False
    row.bindo_order_id = int(found["id"])
    row.state, row.imported_at = IMPORTED, row.imported_at or utcnow()
    db.session.commit()
    return True


def record_failure(merchant: Merchant, bc_order_id: int, exc: Exception) -> None:
    """Note the error on the row (state "failed" unless the Bindo order already exists)."""
    db.session.rollback()
    row = get_or_create_row(merchant, bc_order_id)
    row.error_message = f"{type(exc).__name__}: {exc}"[:2000]
    if row.bindo_order_id is None:
        row.state = FAILED
    db.session.commit()


# --- the sweep -----------------------------------------------------------------------------


def sweep_since(merchant: Merchant) -> datetime:
    last = merchant.last_order_sweep_at or merchant.activated_at
    if last is None:
        last = utcnow() - FIRST_SWEEP_LOOKBACK
    return last - SWEEP_OVERLAP


def sweep_orders(merchant: Merchant) -> dict[str, int]:
    """Enqueue imports for orders modified since the last sweep that we lack or that moved on,
    and re-activate webhooks BigCommerce deactivated."""
    started = utcnow()
    bc = bc_client(merchant)
    seen = enqueued = 0
    for order in bc.iter_orders(sweep_since(merchant)):
        seen += 1
        if needs_import(merchant, order):
            request_import(merchant, int(order["id"]))
            enqueued += 1
    reactivated = reactivate_hooks(merchant, bc)
    merchant.last_order_sweep_at = started
    db.session.commit()
    counts = {"seen": seen, "enqueued": enqueued, "hooks_reactivated": reactivated}
    log.info("store %s: order sweep %s", merchant.store_hash, counts)
    return counts


def needs_import(merchant: Merchant, order: Mapping[str, Any]) -> bool:
    """Not seen yet, failed, or its status changed since our last run."""
    row = db.session.scalar(
        select(ImportedOrder).where(
            ImportedOrder.merchant_id == merchant.id, ImportedOrder.bc_order_id == int(order["id"])
        )
    )
    if row is None:
        return True
    if row.state in (FAILED, "pending") or row.bc_status_id != int(order.get("status_id") or 0):
        return True
    # A second partial refund leaves the status at 14: compare the refunded amounts too.
    seen = Decimal(row.refunded_amount) if row.refunded_amount else Decimal(0)
    return row.bindo_order_id is not None and refunded_amount(order) != seen


def reactivate_hooks(merchant: Merchant, bc: BigCommerceClient) -> int:
    """Turn deactivated hooks back on (BigCommerce gives up after ~48 h of failed deliveries)."""
    count = 0
    for hook in bc.list_hooks():
        if hook.get("is_active", True):
            continue
        bc.update_hook(int(hook["id"]), is_active=True)
        count += 1
        raise_alert(
            "webhook_deactivated",
            f"BigCommerce had deactivated the {hook.get('scope')} webhook of "
            f"{merchant.store_hash}; it was re-activated and missed orders are swept in.",
            merchant=merchant,
            subject=str(hook["id"]),
        )
        audit("hook.reactivated", merchant=merchant, hook_id=hook["id"], scope=hook.get("scope"))
    db.session.commit()
    return count


# --- triggers ------------------------------------------------------------------------------


@handles("bigcommerce", *ORDER_SCOPES)
def on_order_event(event: WebhookEvent, merchant: Merchant) -> None:
    """``store/order/created`` / ``statusUpdated``: the payload only says which order changed."""
    data = (event.payload or {}).get("data") or {}
    try:
        order_id = int(data["id"])
    except (KeyError, TypeError, ValueError):
        log.warning("order event %s without an order id", event.id)
        return
    request_import(merchant, order_id)


@periodic
def enqueue_due_order_sweeps() -> None:
    """Every ORDER_SWEEP_INTERVAL_SECONDS per merchant: a sweep_orders job (LOW queue)."""
    enqueue_when_due(
        "order_sweep",
        job=SWEEP_JOB,
        last_run_attr="last_order_sweep_at",
        interval_setting="ORDER_SWEEP_INTERVAL_SECONDS",
    )
