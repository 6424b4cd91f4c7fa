"""Stock, Bindo -> BigCommerce: absolute levels per bound product, sent only when they changed.

Bindo is the source of truth. A push reads the quantities at the merchant's linked Bindo
locations, turns them into whole non-negative levels (``shared.mapping.stock_level``), compares
them with each binding's watermark (``ProductBinding.stock_pushed``, {bc_location_id: level})
and sends only the differences through the Inventory API, 2,000 items per request. The periodic
reconciliation compares with BigCommerce's own levels instead, so drift is found and fixed.
See docs/stock-and-orders.md.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncRun, WebhookEvent, utcnow
from portal.queue import DEFAULT, enqueue, make_job_id
from shared.mapping import stock_level
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.errors import ApiError, NotFound
from worker.context import bc_client, bindo_client, redis
from worker.inbox import handles, screens
from worker.periodic import enqueue_when_due, periodic
from worker.sync import variant_stock
from worker.sync.locks import job_lock

log = logging.getLogger(__name__)

PUSH_JOB = "worker.jobs.stock.push_stock"
RECONCILE_JOB = "worker.jobs.stock.stock_reconcile"
REASON = "Bindo POS stock"
INVENTORY_PAGE = 1000  # max page size of GET /v3/inventory/items (CONTRACT 7.2)
PRODUCT_ID_CHUNK = 200  # ids per `product_id:in` filter: keeps URLs short
LOCK_TIMEOUT = 600  # seconds; longer than any push of a large catalog
LOCK_WAIT_SECONDS = 120  # a live push of a large catalog may take this long

# (BigCommerce location id, the Bindo locations summed into it)
Target = tuple[int, tuple[int, ...]]
# Bindo location id -> Bindo product id -> quantity
StockByLocation = dict[int, dict[int, Decimal]]


@dataclass
class PushResult:
    """What one push or reconciliation did."""

    checked: int = 0
    sent: int = 0
    unchanged: int = 0
    drift: int = 0
    requests: int = 0
    refused: int = 0
    sent_items: list[dict[str, int]] = field(default_factory=list)


# --- the pure part -------------------------------------------------------------------------


def targets(merchant: Merchant) -> list[Target]:
    """Where each linked Bindo location's stock goes in BigCommerce.

    "sum" sends the total of every linked location to ``bc_location_id``; "map" sends each
    linked location to ``location_map[str(bindo_location)]`` (unmapped ones are not sent, and
    several Bindo locations mapped to one BigCommerce location are summed there).
    """
    linked = tuple(int(loc) for loc in merchant.bindo_location_ids or ())
    if merchant.location_mode != "map":
        return [(int(merchant.bc_location_id or 1), linked)]
    grouped: dict[int, list[int]] = {}
    for loc in linked:
        bc_loc = (merchant.location_map or {}).get(str(loc))
        if bc_loc is None:
            log.warning("store %s: Bindo location %s is not mapped", merchant.store_hash, loc)
            continue
        grouped.setdefault(int(bc_loc), []).append(loc)
    return [(bc_loc, tuple(locs)) for bc_loc, locs in sorted(grouped.items())]


def desired_levels(
    bindo_product_id: int, stock: StockByLocation, plan: Sequence[Target], safety_buffer: int
) -> dict[str, int]:
    """{str(bc_location_id): level} for one product (JSON keys are strings, as stored)."""
    return {
        str(bc_loc): stock_level(
            (stock.get(loc, {}).get(bindo_product_id) for loc in bindo_locs), safety_buffer
        )
        for bc_loc, bindo_locs in plan
    }


def changed_items(
    bindings: Iterable[ProductBinding],
    stock: StockByLocation,
    plan: Sequence[Target],
    safety_buffer: int,
    current: Mapping[int, Mapping[str, int]] | None = None,
) -> tuple[list[dict[str, int]], dict[int, dict[str, int]]]:
    """Inventory items to send, and the new watermark per binding id.

    ``current`` (bc_product_id -> {location: level}) is what BigCommerce holds, when known
    (reconciliation); otherwise each binding's last pushed levels stand in for it.
    """
    items: list[dict[str, int]] = []
    watermarks: dict[int, dict[str, int]] = {}
    for binding in bindings:
        wanted = desired_levels(binding.bindo_product_id, stock, plan, safety_buffer)
        known = (
            current.get(binding.bc_product_id, {})
            if current is not None
            else (binding.stock_pushed or {})
        )
        for loc, level in wanted.items():
            if known.get(loc) != level:
                items.append(
                    {
                        "product_id": binding.bc_product_id,
                        "location_id": int(loc),
                        "quantity": level,
                    }
                )
        if wanted != (binding.stock_pushed or {}):
            watermarks[binding.id] = {**(binding.stock_pushed or {}), **wanted}
    return items, watermarks


# --- I/O -----------------------------------------------------------------------------------


def merchant_lock(merchant: Merchant) -> AbstractContextManager[None]:
    """One stock writer per store: two pushes reading Bindo at different moments and
    finishing in the other order would otherwise leave the older level in BigCommerce.
    A push waits for a live one; the lock of a killed push is taken over at once."""
    return job_lock(
        redis(),
        f"bc:stock-lock:{merchant.id}",
        ttl=LOCK_TIMEOUT,
        wait=LOCK_WAIT_SECONDS,
        busy=lambda: TimeoutError(f"stock lock of {merchant.store_hash} is busy"),
    )


def pushed_bindings(merchant: Merchant, bindo_ids: Iterable[int] | None) -> list[ProductBinding]:
    """Bindings already created in BigCommerce, optionally only for some Bindo products."""
    stmt = select(ProductBinding).where(
        ProductBinding.merchant_id == merchant.id,
        ProductBinding.bc_product_id.is_not(None),
        # Products with variants are tracked by variant: worker.sync.variant_stock sends them.
        ProductBinding.bindo_product_id.not_in(variant_stock.variant_product_ids(merchant)),
    )
    if bindo_ids is None:
        return list(db.session.scalars(stmt.order_by(ProductBinding.id)))
    wanted = sorted({int(i) for i in bindo_ids})
    found: list[ProductBinding] = []
    for start in range(0, len(wanted), 500):  # keep IN lists small for every backend
        chunk = wanted[start : start + 500]
        found.extend(db.session.scalars(stmt.where(ProductBinding.bindo_product_id.in_(chunk))))
    return found


def read_bindo_stock(
    merchant: Merchant, plan: Sequence[Target], product_ids: Sequence[int] | None
) -> StockByLocation:
    """Quantities at every Bindo location the plan uses (all products when ids is None)."""
    client = bindo_client(merchant)
    locations = sorted({loc for _, locs in plan for loc in locs})
    return {loc: client.get_stock(loc, product_ids) for loc in locations}


def send(
    client: BigCommerceClient, merchant: Merchant, items: list[dict[str, int]]
) -> tuple[int, set[int]]:
    """Send absolute levels (batches of 2,000); returns (requests, bc product ids refused).

    One bad item refuses a whole batch (422), so the client isolates the refused items and
    writes the rest; each refused product's binding is marked (see ``_refused``) and keeps its
    old watermark, so it is tried again once fixed.
    """
    if not items:
        return 0, set()
    refused = client.set_absolute_levels(items, REASON)
    by_product: dict[int, ApiError] = {}
    for pos, exc in refused.items():
        by_product.setdefault(int(items[pos]["product_id"]), exc)
    for bc_product_id, exc in by_product.items():
        _refused(client, merchant, bc_product_id, exc)
    # Requests of the plain batches; the re-sends of a refused one are not counted.
    return (len(items) + 1999) // 2000, set(by_product)


def _refused(
    client: BigCommerceClient, merchant: Merchant, bc_product_id: int, exc: ApiError
) -> None:
    """Mark the binding of a product whose level BigCommerce refused, for staff (Sync errors).

    A product deleted in BigCommerce is unlinked (a staff retry creates it again); any other
    refusal (a tracking mismatch) is recorded with BigCommerce's answer.
    """
    from worker.sync.catalog.errors import record_error  # stock builds on catalog bindings

    bindings = db.session.scalars(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id,
            ProductBinding.bc_product_id == bc_product_id,
        )
    ).all()
    try:
        client.get_product(bc_product_id, include=None)
        gone = False
    except NotFound:
        gone = True
    for binding in bindings:
        if gone:
            record_error(
                binding,
                NotFound(
                    f"BigCommerce product {bc_product_id} no longer exists",
                    status=404,
                    service="bigcommerce",
                ),
            )
            binding.bc_product_id = None
            binding.stock_pushed = {}
            binding.image_map = {}
            binding.last_pushed = binding.last_online = binding.last_payload_hash = None
        else:
            record_error(binding, exc)
        log.warning(
            "store %s: BigCommerce refused the stock of product %s (%s)%s",
            merchant.store_hash,
            bc_product_id,
            exc.status,
            "; deleted in BigCommerce, unlinked" if gone else "",
        )
    db.session.commit()


def _save_watermarks(
    bindings: Sequence[ProductBinding],
    marks: Mapping[int, dict[str, int]],
    refused: Collection[int] = (),
) -> None:
    now = utcnow()
    for binding in bindings:
        if binding.bc_product_id in refused or binding.bc_product_id is None:
            continue  # not written (or unlinked): its levels are sent again next time
        if binding.id in marks:
            # A new dict, so SQLAlchemy sees the JSON column change.
            binding.stock_pushed = dict(marks[binding.id])
            # BigCommerce also fires store/product/updated for a tracked product's level:
            # stamped like a catalog write, so that echo is dropped too.
            binding.last_synced_at = binding.pushed_at = now
    db.session.commit()


def push_stock(merchant: Merchant, bindo_product_ids: Iterable[int] | None) -> PushResult:
    """Send the changed levels of some (or all, with None) pushed products.

    The watermark is written only after BigCommerce accepted the levels: a crash in between
    sends the same absolute levels again, which is harmless.
    """
    with merchant_lock(merchant):
        bindings = pushed_bindings(merchant, bindo_product_ids)
        variants = variant_stock.bound_variants(merchant, bindo_product_ids)
        if not bindings and not variants:
            return PushResult()
        plan = targets(merchant)
        ids = [b.bindo_product_id for b in bindings]
        stock = (
            read_bindo_stock(merchant, plan, None if bindo_product_ids is None else ids)
            if bindings
            else {}
        )
        items, marks = changed_items(bindings, stock, plan, merchant.safety_buffer or 0)
        variant_items, variant_marks = variant_stock.changed_items(
            variants,
            variant_stock.read_variant_stock(merchant, plan, variants),
            plan,
            merchant.safety_buffer or 0,
        )
        client = bc_client(merchant, deferred_calls=1)  # one batch, as a rule
        requests, refused = send(client, merchant, items)
        _save_watermarks(bindings, marks, refused)
        requests += variant_stock.send(client, variants, variant_items, variant_marks)
    result = PushResult(
        checked=len(bindings) + len(variants),
        sent=len(items) + len(variant_items),
        unchanged=_unchanged(bindings, variants, items, variant_items),
        requests=requests,
        refused=len(refused),
        sent_items=items + variant_items,
    )
    log.info("store %s: stock pushed %s", merchant.store_hash, result_summary(result))
    return result


def _unchanged(
    bindings: Sequence[ProductBinding],
    variants: Sequence[Any],
    items: Sequence[Mapping[str, int]],
    variant_items: Sequence[Mapping[str, int]],
) -> int:
    """Products and variants checked whose levels needed no write."""
    products = len(bindings) - len({i["product_id"] for i in items})
    return products + len(variants) - len({i["variant_id"] for i in variant_items})


def result_summary(result: PushResult) -> dict[str, int]:
    return {
        "checked": result.checked,
        "sent": result.sent,
        "unchanged": result.unchanged,
        "drift": result.drift,
        "requests": result.requests,
        "refused": result.refused,
    }


def bigcommerce_levels(
    client: BigCommerceClient, bc_product_ids: Sequence[int], bc_locations: Sequence[int]
) -> dict[int, dict[str, int]]:
    """{bc_product_id: {str(location): on-hand}} from GET /v3/inventory/items."""
    levels: dict[int, dict[str, int]] = {}
    locs = ",".join(str(loc) for loc in sorted(set(bc_locations)))
    ids = sorted(set(bc_product_ids))
    for start in range(0, len(ids), PRODUCT_ID_CHUNK):
        chunk = ",".join(str(i) for i in ids[start : start + PRODUCT_ID_CHUNK])
        params = {"product_id:in": chunk, "location_id:in": locs, "limit": INVENTORY_PAGE}
        for item in _iter_inventory_items(client, params):
            product_id = (item.get("identity") or {}).get("product_id")
            if product_id is None:
                continue
            levels[int(product_id)] = {
                str(loc["location_id"]): int(loc.get("total_inventory_onhand") or 0)
                for loc in item.get("locations") or ()
            }
    return levels


def _iter_inventory_items(client: BigCommerceClient, params: dict[str, Any]) -> Iterator[Any]:
    page = 1
    while True:
        resp = client.request("GET", "/v3/inventory/items", params={**params, "page": page})
        rows = resp.data or []
        yield from rows
        total = (resp.meta.get("pagination") or {}).get("total_pages")
        if not rows or (total is not None and page >= int(total)) or len(rows) < params["limit"]:
            return
        page += 1


def reconcile_stock(merchant: Merchant) -> PushResult:
    """Compare every pushed product's level in BigCommerce with Bindo's and fix the drift.

    Counts as drift any level BigCommerce holds that differs from what Bindo says it should be
    (a missed webhook, a hand edit in the control panel, a write lost on the way).
    """
    run = SyncRun(merchant_id=merchant.id, kind="stock_reconcile", state="running")
    run.started_at = utcnow()
    db.session.add(run)
    db.session.commit()
    try:
        result = _reconcile(merchant)
    except Exception as exc:
        db.session.rollback()
        run.state, run.finished_at, run.error = "failed", utcnow(), str(exc)[:2000]
        db.session.commit()
        raise
    merchant.last_stock_reconciled_at = utcnow()
    merchant.last_drift_count = result.drift
    run.state, run.finished_at = "finished", utcnow()
    run.total, run.done, run.drift = result.checked, result.checked, result.drift
    run.counts = result_summary(result)
    db.session.commit()
    if result.drift:
        log.warning("store %s: fixed stock drift on %d items", merchant.store_hash, result.drift)
    return result


def _reconcile(merchant: Merchant) -> PushResult:
    with merchant_lock(merchant):
        bindings = pushed_bindings(merchant, None)
        variants = variant_stock.bound_variants(merchant, None)
        plan = targets(merchant)
        stock = read_bindo_stock(merchant, plan, None)
        client = bc_client(merchant)
        current = bigcommerce_levels(
            client, [b.bc_product_id for b in bindings], [loc for loc, _ in plan]
        )
        items, marks = changed_items(
            bindings, stock, plan, merchant.safety_buffer or 0, current=current
        )
        variant_items, variant_marks = variant_stock.changed_items(
            variants,
            variant_stock.read_variant_stock(merchant, plan, variants),
            plan,
            merchant.safety_buffer or 0,
            current=variant_stock.bigcommerce_levels(client, variants, [loc for loc, _ in plan]),
        )
        requests, refused = send(client, merchant, items)
        _save_watermarks(bindings, marks, refused)
        requests += variant_stock.send(client, variants, variant_items, variant_marks)
    return PushResult(
        checked=len(bindings) + len(variants),
        sent=len(items) + len(variant_items),
        drift=len(items) + len(variant_items),
        unchanged=_unchanged(bindings, variants, items, variant_items),
        requests=requests,
        refused=len(refused),
        sent_items=items + variant_items,
    )


# --- triggers ------------------------------------------------------------------------------


def pending_key(merchant_id: int) -> str:
    """Redis set of Bindo product ids waiting for the next push of this merchant."""
    return f"bc:stock-pending:{merchant_id}"


def request_push(
    merchant: Merchant, bindo_product_ids: Iterable[int], *, delay: float | None = None
) -> None:
    """Note the products and queue the merchant's push unless one is queued already.

    The ids go into the merchant's pending set; ``enqueue`` coalesces by job id (a flag the run
    clears as it starts), so a burst of inventory events (an in-store sale of ten items)
    becomes one push, and changes made while a push runs become exactly one follow-up push.
    With ``delay`` (the products a sync's steps create) the push runs that much later under
    its own job id, so every step of that time joins one push, and a stock change meanwhile
    still goes out at once (it also takes the pending ids).
    """
    ids = [int(i) for i in bindo_product_ids]
    if not ids:
        return
    redis().sadd(pending_key(merchant.id), *ids)
    enqueue(
        PUSH_JOB,
        merchant.id,
        ids[:1],
        queue=DEFAULT,
        job_id=make_job_id("stock" if delay is None else "stock_new", merchant.store_hash),
        merchant_id=merchant.id,
        delay=delay,
    )


def take_pending(merchant_id: int) -> list[int]:
    """The ids waiting for a push (left in the set until the push succeeded)."""
    return sorted(int(i) for i in redis().smembers(pending_key(merchant_id)))


def done_pending(merchant_id: int, ids: Sequence[int]) -> None:
    """Forget pushed ids; ids added while we pushed stay for the next run."""
    if ids:
        redis().srem(pending_key(merchant_id), *ids)


@handles("bindo", "inventory.updated")
def on_bindo_inventory_updated(event: WebhookEvent, merchant: Merchant) -> None:
    """Bindo ``inventory.updated`` (back office counts and in-store sales): push that product.

    The payload's quantity is not trusted (events arrive out of order): the push re-reads it.
    Events for locations the merchant did not link change nothing we publish.
    """
    data = (event.payload or {}).get("data") or {}
    try:
        product_id = int(data["product_id"])
    except (KeyError, TypeError, ValueError):
        log.warning("inventory event %s without a product id", event.id)
        return
    location = data.get("location_id")
    linked = {int(loc) for loc in merchant.bindo_location_ids or ()}
    if location is not None and int(location) not in linked:
        return
    request_push(merchant, [product_id])


@handles("bigcommerce", "store/product/inventory/updated")
def on_bigcommerce_inventory_echo(event: WebhookEvent, merchant: Merchant) -> None:
    """``store/product/inventory/updated`` also fires for our own absolute writes (T11).

    We never push because of it: Bindo is the source of truth and the payload's ``value`` is
    ambiguous (CONTRACT 9.2). An echo matches the watermark and is ignored; a level edited by
    hand in BigCommerce is drift, which the periodic reconciliation puts back. The relay's
    screen below settles these rows before a job exists; this handler only sees rows queued
    before the screen (or re-relayed ones).
    """
    data = (event.payload or {}).get("data") or {}
    log.debug("store %s: inventory event for product %s ignored", merchant.store_hash, data)


@screens("bigcommerce", "store/product/inventory/updated")
def screen_inventory_events(events: list[WebhookEvent]) -> dict[int, str]:
    """Every inventory event is settled at the relay: no job, no request (see above)."""
    return {event.id: "inventory levels follow Bindo (drift: stock reconcile)" for event in events}


# --- periodic ------------------------------------------------------------------------------


@periodic
def enqueue_due_stock_reconciles() -> None:
    """Every RECONCILE_INTERVAL_SECONDS per merchant: a stock_reconcile job (LOW queue)."""
    enqueue_when_due(
        "stock_reconcile",
        job=RECONCILE_JOB,
        last_run_attr="last_stock_reconciled_at",
        interval_setting="RECONCILE_INTERVAL_SECONDS",
    )
