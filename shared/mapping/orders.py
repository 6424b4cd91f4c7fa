"""Order rule: a BigCommerce v2 order -> a Bindo order body, customer and refunds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import MappingError, preview

# BigCommerce order statuses (CONTRACT section 8.5).
STATUS_INCOMPLETE = 0
STATUS_REFUNDED = 4
STATUS_CANCELLED = 5
STATUS_DECLINED = 6
STATUS_PARTIALLY_REFUNDED = 14

# Every status's name as the control panel shows it (CONTRACT section 8.5), for people.
STATUS_NAMES: dict[int, str] = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}

# Statuses whose orders are never imported: no sale happened. Incomplete orders are
# abandoned or failed payments (store/order/created fires for them too); a declined or
# already cancelled order would only move Bindo stock for nothing. An order imported
# earlier and cancelled later is handled by is_cancelled, not here.
NOT_IMPORTED_STATUSES: frozenset[int] = frozenset(
    {STATUS_INCOMPLETE, STATUS_CANCELLED, STATUS_DECLINED}
)
REFUNDED_STATUSES: frozenset[int] = frozenset({STATUS_REFUNDED, STATUS_PARTIALLY_REFUNDED})

_CENTS = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class UnknownLine:
    """An order line whose BigCommerce product is not bound to a Bindo product."""

    line_id: int
    bc_product_id: int | None
    name: str
    sku: str


@dataclass(frozen=True, slots=True)
class MappedOrder:
    """Body for Bindo's create-order call, and the lines staff should look at."""

    body: dict[str, Any]
    unknown_lines: tuple[UnknownLine, ...]


def should_import(status_id: int) -> bool:
    """Whether a newly seen order becomes a Bindo order (not Incomplete, Cancelled, Declined)."""
    return status_id not in NOT_IMPORTED_STATUSES


def is_cancelled(status_id: int) -> bool:
    return status_id == STATUS_CANCELLED


def is_refunded(status_id: int) -> bool:
    """Refunded or Partially Refunded: time to run refund_lines."""
    return status_id in REFUNDED_STATUSES


def external_reference(store_hash: str, order_id: int) -> str:
    """Our key for a BigCommerce order in Bindo; unique per store, so imports are idempotent."""
    return f"bc-{store_hash}-{order_id}"


def money(value: Any, field: str = "order_price") -> str:
    """BigCommerce money string ("12.5000") -> Bindo money string ("12.50"), half-up."""
    try:
        if isinstance(value, bool) or value is None:
            raise TypeError
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
        if not amount.is_finite():
            raise ValueError
    except (InvalidOperation, TypeError, ValueError):
        raise MappingError(
            field,
            f"Amount '{preview(value)}' is not a number",
            code=f"{field}_unparsable",
            value=value,
        ) from None
    return str(amount.quantize(_CENTS, rounding=ROUND_HALF_UP))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def customer_from_billing(billing: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Bindo customer from a BigCommerce billing address; None without an e-mail (guest)."""
    if not billing:
        return None
    email = _text(billing.get("email")).lower()
    if not email:
        return None
    return {
        "email": email,
        "first_name": _text(billing.get("first_name")),
        "last_name": _text(billing.get("last_name")),
        "phone": _text(billing.get("phone")),
        "address": {
            "line1": _text(billing.get("street_1")),
            "line2": _text(billing.get("street_2")),
            "city": _text(billing.get("city")),
            "state": _text(billing.get("state")),
            "zip": _text(billing.get("zip")),
            "country": _text(billing.get("country")),
        },
    }


def _shipping_note(address: Mapping[str, Any]) -> str:
    name = " ".join(
        p for p in (_text(address.get("first_name")), _text(address.get("last_name"))) if p
    )
    city_line = " ".join(p for p in (_text(address.get("state")), _text(address.get("zip"))) if p)
    parts = [
        name,
        _text(address.get("company")),
        _text(address.get("street_1")),
        _text(address.get("street_2")),
        _text(address.get("city")),
        city_line,
        _text(address.get("country")),
    ]
    note = "Ship to: " + ", ".join(p for p in parts if p)
    method = _text(address.get("shipping_method"))
    return f"{note} ({method})" if method else note


def _order_note(order: Mapping[str, Any], shipping_addresses: Sequence[Mapping[str, Any]]) -> str:
    # Bindo orders have no shipping fields: staff packing the order read it from the note.
    lines = [f"BigCommerce order #{order.get('id')}"]
    lines.extend(_shipping_note(address) for address in shipping_addresses)
    message = _text(order.get("customer_message"))
    if message:
        lines.append(f"Customer message: {message}")
    return "\n".join(lines)


def map_order(
    order: Mapping[str, Any],
    lines: Iterable[Mapping[str, Any]],
    shipping_addresses: Sequence[Mapping[str, Any]],
    *,
    store_hash: str,
    location_id: int,
    product_bindings: Mapping[int, int],
    customer_id: int | None,
    sku_bindings: Mapping[str, int] | None = None,
) -> MappedOrder:
    """Bindo order body for a BigCommerce order, plus the lines with no Bindo product.

    Lines are matched through ``product_bindings`` (BigCommerce product id -> Bindo id), then
    through ``sku_bindings`` (casefolded SKU -> Bindo id) when given, for custom lines.
    Unknown lines are still imported, with product_id None, so the sale total is right.
    """
    order_id = order.get("id")
    line_items = []
    unknown: list[UnknownLine] = []
    for line in lines:
        bc_product_id = line.get("product_id")
        sku = _text(line.get("sku"))
        product_id = product_bindings.get(bc_product_id) if bc_product_id else None
        if product_id is None and sku and sku_bindings:
            product_id = sku_bindings.get(sku.casefold())
        if product_id is None:
            unknown.append(
                UnknownLine(line["id"], bc_product_id or None, _text(line.get("name")), sku)
            )
        line_items.append(
            {
                "product_id": product_id,
                "name": _text(line.get("name")),
                "sku": sku,
                "price": money(line.get("price_inc_tax")),
                "quantity": int(line.get("quantity") or 0),
                "external_line_id": str(line["id"]),
            }
        )
    body = {
        "external_reference": external_reference(store_hash, order_id),
        "location_id": location_id,
        "customer_id": customer_id,
        "status": "unfulfilled",
        "payment_status": "paid",
        "currency": order.get("default_currency_code") or order.get("currency_code"),
        "line_items": line_items,
        "note": _order_note(order, shipping_addresses),
    }
    return MappedOrder(body, tuple(unknown))


def _refunded_in_bindo(item: Mapping[str, Any]) -> int:
    # The Bindo field name is not pinned down yet; accept both spellings.
    return int(item.get("refunded_quantity", item.get("quantity_refunded")) or 0)


def refund_lines(
    order_lines: Iterable[Mapping[str, Any]], bindo_order: Mapping[str, Any]
) -> list[dict[str, int]]:
    """Refunds still to apply in Bindo: BigCommerce refunded quantity minus Bindo's, per line.

    Computed from totals on both sides, not from events, so replaying a webhook or running
    twice never refunds twice. Lines never imported into Bindo are ignored.
    """
    by_external = {
        str(item.get("external_line_id")): item for item in bindo_order.get("line_items") or ()
    }
    refunds = []
    for line in order_lines:
        item = by_external.get(str(line.get("id")))
        if item is None:
            continue
        wanted = int(line.get("quantity_refunded") or 0)
        ordered = item.get("quantity")
        if isinstance(ordered, int):
            wanted = min(wanted, ordered)
        missing = wanted - _refunded_in_bindo(item)
        if missing > 0:
            refunds.append({"line_item_id": item["id"], "quantity": missing})
    return refunds
