"""Stock of products with variants, Bindo -> BigCommerce (docs/stock-and-orders.md, Variants).

Same rules as products (shared.mapping.stock_level: linked locations summed or mapped per
BigCommerce location, floored, minus the safety buffer, 0 at the least), per variant:
absolute adjustments by ``variant_id`` (the product is tracked by variant), sent with the
products' items in requests of 2,000, and a watermark per variant
(``VariantBinding.stock_pushed``). Called from worker.sync.stock under its merchant lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Merchant, ProductBinding, VariantBinding, utcnow
from shared.mapping import stock_level
from worker.clients.bigcommerce import BigCommerceClient
from worker.context import bindo_client

# (BigCommerce location id, the Bindo locations summed into it), as in worker.sync.stock
Target = tuple[int, tuple[int, ...]]
VARIANT_ID_CHUNK = 200  # ids per `variant_id:in` filter: keeps URLs short


def bound_variants(
    merchant: Merchant, bindo_product_ids: Iterable[int] | None
) -> list[VariantBinding]:
    """Live variants created in BigCommerce (removed ones are unpurchasable: no stock)."""
    if merchant.allow_out_of_stock_orders:
        return []  # tracked "none": BigCommerce ignores the levels, so none are sent
    stmt = select(VariantBinding).where(
        VariantBinding.merchant_id == merchant.id,
        VariantBinding.bc_variant_id.is_not(None),
        VariantBinding.removed.is_(False),
    )
    if bindo_product_ids is None:
        return list(db.session.scalars(stmt.order_by(VariantBinding.id)))
    wanted = sorted({int(i) for i in bindo_product_ids})
    found: list[VariantBinding] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(db.session.scalars(stmt.where(VariantBinding.bindo_product_id.in_(chunk))))
    return found


def variant_product_ids(merchant: Merchant):
    """Subquery: Bindo products of this merchant that have variant bindings (their stock is
    per variant, never sent by product id)."""
    return select(VariantBinding.bindo_product_id).where(VariantBinding.merchant_id == merchant.id)


def read_variant_stock(
    merchant: Merchant, plan: Sequence[Target], rows: Sequence[VariantBinding]
) -> dict[int, dict[int, Decimal]]:
    """Bindo location -> variant id -> quantity, for the products of ``rows`` only."""
    if not rows:
        return {}
    client = bindo_client(merchant)
    product_ids = sorted({r.bindo_product_id for r in rows})
    locations = sorted({loc for _, locs in plan for loc in locs})
    return {loc: client.get_variant_stock(loc, product_ids) for loc in locations}


def changed_items(
    rows: Iterable[VariantBinding],
    stock: Mapping[int, Mapping[int, Decimal]],
    plan: Sequence[Target],
    safety_buffer: int,
    current: Mapping[int, Mapping[str, int]] | None = None,
) -> tuple[list[dict[str, int]], dict[int, dict[str, int]]]:
    """Inventory items by variant_id, and the new watermark per VariantBinding id.

    ``current`` (bc_variant_id -> {location: level}) is what BigCommerce holds, when known
    (reconciliation); otherwise each row's last pushed levels stand in for it."""
    items: list[dict[str, int]] = []
    marks: dict[int, dict[str, int]] = {}
    for row in rows:
        wanted = {
            str(bc_loc): stock_level(
                (stock.get(loc, {}).get(row.bindo_variant_id) for loc in bindo_locs),
                safety_buffer,
            )
            for bc_loc, bindo_locs in plan
        }
        known = (
            current.get(int(row.bc_variant_id), {})
            if current is not None
            else (row.stock_pushed or {})
        )
        for loc, level in wanted.items():
            if known.get(loc) != level:
                variant_id = int(row.bc_variant_id or 0)
                items.append({"variant_id": variant_id, "location_id": int(loc), "quantity": level})
        if wanted != (row.stock_pushed or {}):
            marks[row.id] = {**(row.stock_pushed or {}), **wanted}
    return items, marks


def save_watermarks(rows: Sequence[VariantBinding], marks: Mapping[int, dict[str, int]]) -> None:
    now = utcnow()
    written: dict[int, set[int]] = {}
    for row in rows:
        if row.id in marks:
            row.stock_pushed = dict(marks[row.id])
            row.last_synced_at = now
            if row.bc_product_id is not None:
                written.setdefault(row.merchant_id, set()).add(row.bc_product_id)
    for merchant_id, bc_ids in written.items():
        # The products' store/product/updated echoes of these writes are ours (catalog
        # handlers' is_echo), as for products without variants.
        db.session.execute(
            update(ProductBinding)
            .where(
                ProductBinding.merchant_id == merchant_id,
                ProductBinding.bc_product_id.in_(sorted(bc_ids)),
            )
            .values(pushed_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()


def bigcommerce_levels(
    client: BigCommerceClient, rows: Sequence[VariantBinding], bc_locations: Sequence[int]
) -> dict[int, dict[str, int]]:
    """{bc_variant_id: {str(location): on-hand}} from GET /v3/inventory/items."""
    from worker.sync.stock import INVENTORY_PAGE, _iter_inventory_items

    levels: dict[int, dict[str, int]] = {}
    locs = ",".join(str(loc) for loc in sorted(set(bc_locations)))
    ids = sorted({int(r.bc_variant_id) for r in rows if r.bc_variant_id is not None})
    for start in range(0, len(ids), VARIANT_ID_CHUNK):
        chunk = ",".join(str(i) for i in ids[start : start + VARIANT_ID_CHUNK])
        params = {"variant_id:in": chunk, "location_id:in": locs, "limit": INVENTORY_PAGE}
        for item in _iter_inventory_items(client, params):
            variant_id = (item.get("identity") or {}).get("variant_id")
            if variant_id is None:
                continue
            levels[int(variant_id)] = {
                str(loc["location_id"]): int(loc.get("total_inventory_onhand") or 0)
                for loc in item.get("locations") or ()
            }
    return levels


def send(
    client: BigCommerceClient,
    rows: Sequence[VariantBinding],
    items: list[dict[str, int]],
    marks: Mapping[int, dict[str, int]],
) -> int:
    """Send the variants' absolute levels (2,000 per request); save the watermarks of the
    variants BigCommerce took (a refused one is sent again next time). Returns requests."""
    if not items:
        save_watermarks(rows, marks)
        return 0
    refused = client.set_absolute_levels(items, "Bindo POS stock")
    bad = {int(items[pos]["variant_id"]) for pos in refused}
    save_watermarks([r for r in rows if r.bc_variant_id not in bad], marks)
    return (len(items) + 1999) // 2000
