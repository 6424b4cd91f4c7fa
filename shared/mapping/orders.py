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

# Statuses at which an order is placed and paid: it becomes a Bindo sale (and lowers Bindo
# stock). 2 Shipped, 3 Partially Shipped, 8 Awaiting Pickup, 9 Awaiting Shipment,
# 10 Completed, 11 Awaiting Fulfillment; 4 Refunded and 14 Partially Refunded were paid too
# (first seen refunded: imported, then its refunds follow, so Bindo keeps the sale and its
# refund and its stock nets out). Everything else is not a sale yet or not any more:
# 1 Pending, 7 Awaiting Payment, 12 Manual Verification Required and 13 Disputed wait for a
# status change (store/order/statusUpdated or the sweep imports them then); 0 Incomplete waits
# too (a failed payment may be retried); 5 Cancelled and 6 Declined are skipped.
IMPORTED_STATUSES: frozenset[int] = frozenset(
    {2, 3, 8, 9, 10, 11, STATUS_REFUNDED, STATUS_PARTIALLY_REFUNDED}
)
WAITING_STATUSES: frozenset[int] = frozenset({STATUS_INCOMPLETE, 1, 7, 12, 13})
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
    """Whether a newly seen order becomes a Bindo order: placed and paid only."""
    return status_id in IMPORTED_STATUSES


def is_waiting(status_id: int) -> bool:
    """Not paid yet (or under review): shown as waiting, imported once its status moves on."""
    return status_id in WAITING_STATUSES


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
    coupons: Sequence[Mapping[str, Any]] = (),
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
                # Ex tax: the order's tax is its own amount (order_totals).
                "price": money(line.get("price_ex_tax", line.get("price_inc_tax"))),
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
        **order_totals(order, line_items, coupons),
    }
    return MappedOrder(body, tuple(unknown))


def _amount(order: Mapping[str, Any], *names: str) -> Decimal:
    return sum((Decimal(money(order.get(name) or "0", name)) for name in names), Decimal(0))


def order_totals(
    order: Mapping[str, Any],
    line_items: Sequence[Mapping[str, Any]],
    coupons: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The Bindo order's money fields, so that Bindo's total is BigCommerce's total_inc_tax.

    subtotal = the lines (ex-tax price x quantity); shipping = shipping + handling + gift
    wrapping, ex tax; tax = total_tax; discount = automatic discounts + coupons. Whatever the
    parts leave between them and total_inc_tax (cent rounding of per-line prices) is carried
    as ``adjustment_total``, so the totals always agree to the cent and a difference shows.
    """
    subtotal = sum(
        (Decimal(item["price"]) * int(item["quantity"]) for item in line_items), Decimal(0)
    )
    shipping = _amount(
        order, "shipping_cost_ex_tax", "handling_cost_ex_tax", "wrapping_cost_ex_tax"
    )
    tax = _amount(order, "total_tax")
    coupon_total = _amount(order, "coupon_discount")
    automatic = _amount(order, "discount_amount")
    parts = subtotal + shipping + tax - coupon_total - automatic
    total = _amount(order, "total_inc_tax") if order.get("total_inc_tax") is not None else parts
    adjustment = total - parts
    discounts: list[dict[str, str]] = []
    for coupon in coupons:
        # A coupon's own "amount" is a rate for percentage coupons; "discount" is money.
        value = coupon.get("discount", coupon.get("amount"))
        discounts.append(
            {"type": "coupon", "code": _text(coupon.get("code")), "amount": money(value or 0)}
        )
    if coupon_total and not coupons:
        discounts.append({"type": "coupon", "code": "", "amount": money(coupon_total)})
    if automatic:
        discounts.append({"type": "discount", "code": "", "amount": money(automatic)})
    return {
        "subtotal": money(subtotal),
        "shipping_total": money(shipping),
        "tax_total": money(tax),
        "discount_total": money(coupon_total + automatic),
        "discounts": discounts,
        "adjustment_total": money(adjustment),
        "payment_method": _text(order.get("payment_method")),
        "total": money(total),
    }


def _refunded_in_bindo(item: Mapping[str, Any]) -> int:
    # The Bindo field name is not pinned down yet; accept both spellings.
    return int(item.get("refunded_quantity", item.get("quantity_refunded")) or 0)


def refund_reference(store_hash: str, order_id: int, refund_id: int) -> str:
    """Our key for one BigCommerce refund in Bindo: each refund is applied exactly once."""
    return f"{external_reference(store_hash, order_id)}-refund-{int(refund_id)}"


def bindo_refund(refund: Mapping[str, Any], bindo_order: Mapping[str, Any]) -> dict[str, Any]:
    """A BigCommerce v3 refund -> Bindo refund lines and amount.

    PRODUCT items become line refunds (matched by ``external_line_id``; capped at what the
    Bindo line still has, so a line refunded by hand in Bindo is not refunded twice); every
    other item type (ORDER, SHIPPING, ...) is money only. The amount is BigCommerce's
    ``total_amount``, so Bindo's refunds add up to BigCommerce's ``refunded_amount``.
    """
    by_external = {
        str(item.get("external_line_id")): item for item in bindo_order.get("line_items") or ()
    }
    lines: list[dict[str, int]] = []
    for item in refund.get("items") or ():
        if item.get("item_type") != "PRODUCT":
            continue
        line = by_external.get(str(item.get("item_id")))
        if line is None:
            continue
        ordered = line.get("quantity")
        left = int(ordered) - _refunded_in_bindo(line) if isinstance(ordered, int) else None
        quantity = int(item.get("quantity") or 0)
        if left is not None:
            quantity = min(quantity, left)
        if quantity > 0:
            lines.append({"line_item_id": line["id"], "quantity": quantity})
    return {"line_items": lines, "amount": money(refund.get("total_amount") or 0, "refund")}
