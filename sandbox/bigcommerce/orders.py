"""Orders v2: shopper-like order creation, status changes with restock, refunds (lock held)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from . import variants
from .errors import ApiError
from .state import DEFAULT_LOCATION_ID, BCSimState, Store

STATUSES = {
    0: "Incomplete", 1: "Pending", 2: "Shipped", 3: "Partially Shipped", 4: "Refunded",
    5: "Cancelled", 6: "Declined", 7: "Awaiting Payment", 8: "Awaiting Pickup",
    9: "Awaiting Shipment", 10: "Completed", 11: "Awaiting Fulfillment",
    12: "Manual Verification Required", 13: "Disputed", 14: "Partially Refunded",
}  # fmt: skip
RESTOCK_STATUSES = (4, 5)
SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id")


def money(value: Decimal | float | str) -> str:
    """v2 money fields are strings with four decimals, e.g. "69.8400"."""
    return f"{Decimal(str(value)):.4f}"


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def parse_date(text: str) -> datetime:
    """Accept RFC-2822, ISO-8601 or a Unix timestamp, as the v2 date filters do."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Invalid date: {text}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """Drop the simulator's private ``_`` keys before answering."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# -- create ---------------------------------------------------------------------------------


def _line_problem(store: Store, line: Any) -> str | None:
    if not isinstance(line, dict):
        return "each product must be an object"
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        return "quantity must be a positive integer"
    if "product_id" in line:
        if line["product_id"] not in store.products:
            return f"product {line['product_id']} does not exist"
        return _variant_problem(store, line)
    for name in ("name", "price_inc_tax", "price_ex_tax"):
        if name not in line:
            return f"custom product needs {name}"
    return None


def _variant_problem(store: Store, line: dict[str, Any]) -> str | None:
    """A product with options needs the variant bought (``variant_id``), and only then."""
    own = variants.product_variants(store, line["product_id"])
    variant_id = line.get("variant_id")
    if not own:
        return None if variant_id is None else f"product {line['product_id']} has no variants"
    if variant_id is None:
        return f"product {line['product_id']} has options: variant_id is required"
    if all(v["id"] != variant_id for v in own):
        return f"variant {variant_id} is not a variant of product {line['product_id']}"
    variant = store.variants[variant_id]
    if variant["purchasing_disabled"]:
        return f"variant {variant_id} cannot be purchased"
    return None


def _check_stock(store: Store, lines: list[dict[str, Any]]) -> None:
    wanted: dict[tuple[str, int], int] = {}
    for line in lines:
        pid = line.get("product_id")
        if pid is None:
            continue
        tracking = store.products[pid]["inventory_tracking"]
        if tracking == "product":
            wanted[("product", pid)] = wanted.get(("product", pid), 0) + line["quantity"]
        elif tracking == "variant" and line.get("variant_id") is not None:
            key = ("variant", line["variant_id"])
            wanted[key] = wanted.get(key, 0) + line["quantity"]
    for (kind, item_id), quantity in wanted.items():
        holder = store.products[item_id] if kind == "product" else store.variants[item_id]
        level = holder["inventory_level"]
        if quantity > level:
            raise ApiError(
                422,
                f"The quantity specified ({quantity}) is greater than the number of items "
                f"in stock ({level}) for {kind} {item_id}",
            )


def validate_order(store: Store, body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    billing = body.get("billing_address")
    if not isinstance(billing, dict):
        raise ApiError(400, "The field 'billing_address' is required")
    lines = body.get("products")
    if not isinstance(lines, list) or not lines:
        raise ApiError(400, "The field 'products' must be a non-empty array")
    for line in lines:
        problem = _line_problem(store, line)
        if problem:
            raise ApiError(400, problem)
    status_id = body.get("status_id", 1)
    if status_id not in STATUSES:
        raise ApiError(400, f"status_id {status_id} is not a valid order status")
    _check_stock(store, lines)


_CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _totals(lines: list[dict[str, Any]], body: dict[str, Any], rate: Decimal) -> dict[str, Any]:
    """Order money fields for tax-exclusive pricing: tax on the discounted items and on
    shipping; total_inc_tax = subtotal_ex_tax - discounts + shipping_ex_tax + total_tax."""
    subtotal_ex = sum((Decimal(line["total_ex_tax"]) for line in lines), Decimal(0))
    subtotal_tax = sum((Decimal(line["total_tax"]) for line in lines), Decimal(0))
    coupon = body.get("_coupon") or {}
    coupon_discount = Decimal(str(coupon.get("amount", 0)))
    discount = Decimal(str(body.get("discount_amount", 0)))
    shipping_ex = Decimal(str(body.get("shipping_cost_ex_tax", 0)))
    shipping_tax = _cents(shipping_ex * rate)
    items_tax = _cents((subtotal_ex - coupon_discount - discount) * rate)
    total_ex = subtotal_ex - coupon_discount - discount + shipping_ex
    total_tax = items_tax + shipping_tax
    return {
        "subtotal_ex_tax": money(subtotal_ex),
        "subtotal_inc_tax": money(subtotal_ex + subtotal_tax),
        "subtotal_tax": money(subtotal_tax), "base_shipping_cost": money(shipping_ex),
        "shipping_cost_ex_tax": money(shipping_ex),
        "shipping_cost_inc_tax": money(shipping_ex + shipping_tax),
        "shipping_cost_tax": money(shipping_tax), "total_ex_tax": money(total_ex),
        "total_inc_tax": money(total_ex + total_tax), "total_tax": money(total_tax),
        "discount_amount": money(discount), "coupon_discount": money(coupon_discount),
    }  # fmt: skip


def create_order(state: BCSimState, store: Store, body: Any) -> dict[str, Any]:
    """POST /v2/orders: build lines, lower tracked stock, fire created/statusUpdated.

    The /_sim checkout adds ``_tax_rate`` and ``_coupon`` ({code, amount}) to the body: the
    order then carries tax, a coupon (GET /v2/orders/{id}/coupons) and shipping.
    """
    validate_order(store, body)
    now = datetime.now(UTC).replace(microsecond=0)
    order_id = state.next_id()
    address_id = state.next_id()
    rate = Decimal(str(body.get("_tax_rate", 0)))
    lines = [_build_line(state, store, order_id, address_id, raw, rate) for raw in body["products"]]
    billing = _address(body["billing_address"])
    status_id = body.get("status_id", 1)
    order = _order_record(store, order_id, status_id, billing, lines, now, body)
    order.update(_totals(lines, body, rate))
    coupon = body.get("_coupon")
    order["_coupons"] = (
        [
            {
                "id": state.next_id(), "coupon_id": 1, "order_id": order_id,
                "code": str(coupon.get("code", "")), "amount": str(coupon.get("amount", 0)),
                "type": 2, "discount": float(coupon.get("amount", 0)),
            }
        ]
        if coupon
        else []
    )  # fmt: skip
    store.orders[order_id] = order
    store.order_lines[order_id] = lines
    shipping = (body.get("shipping_addresses") or [body["billing_address"]])[0]
    address = _shipping_address(address_id, order_id, shipping, lines)
    address.update(
        base_cost=order["shipping_cost_ex_tax"],
        cost_ex_tax=order["shipping_cost_ex_tax"],
        cost_inc_tax=order["shipping_cost_inc_tax"],
        cost_tax=order["shipping_cost_tax"],
    )
    store.order_addresses[order_id] = [address]
    for line in lines:
        _move_stock(state, store, line, -line["quantity"])
    data = {"type": "order", "id": order_id}
    state.emit(store, "store/order/created", data)
    status = {"previous_status_id": 0, "new_status_id": status_id}
    state.emit(store, "store/order/statusUpdated", {**data, "status": status})
    return order


def _build_line(
    state: BCSimState,
    store: Store,
    order_id: int,
    address_id: int,
    raw: dict[str, Any],
    rate: Decimal = Decimal(0),
) -> dict[str, Any]:
    product = store.products.get(raw.get("product_id", -1))
    if product is not None:
        price = Decimal(str(raw.get("price_inc_tax", product["price"])))
        name, sku, upc, kind = product["name"], product["sku"], product["upc"], product["type"]
        weight = product["weight"]
    else:
        price = Decimal(str(raw["price_inc_tax"]))
        name, sku, upc, kind = raw["name"], raw.get("sku", ""), raw.get("upc", ""), "physical"
        weight = 0
    quantity = raw["quantity"]
    total = price * quantity
    tax = _cents(price * rate)
    line: dict[str, Any] = {
        "id": state.next_id(), "order_id": order_id,
        "product_id": product["id"] if product else 0, "order_address_id": address_id,
        "name": name, "name_customer": name, "name_merchant": name, "sku": sku, "upc": upc,
        "type": kind, "base_price": money(price), "price_ex_tax": money(price),
        "price_inc_tax": money(price + tax), "price_tax": money(tax), "base_total": money(total),
        "total_ex_tax": money(total), "total_inc_tax": money(total + tax * quantity),
        "total_tax": money(tax * quantity),
        "discounted_total_inc_tax": money(total + tax * quantity), "quantity": quantity,
        "weight": weight,
        "is_refunded": False, "quantity_refunded": 0, "refund_amount": money(0),
        "quantity_shipped": 0, "is_bundled_product": False, "parent_order_product_id": None,
        "applied_discounts": [], "product_options": [], "configurable_fields": [],
        "_restocked": 0,
    }  # fmt: skip
    if product is not None:
        line["variant_id"] = product["base_variant_id"]
        variant = store.variants.get(raw.get("variant_id", -1))
        if variant is not None:
            _on_variant(state, line, variant, raw)
    return line


def _on_variant(
    state: BCSimState, line: dict[str, Any], variant: dict[str, Any], raw: dict[str, Any]
) -> None:
    """A line for one variant: its id, SKU, UPC, price and the chosen option values."""
    price = Decimal(str(raw.get("price_inc_tax", variant["calculated_price"])))
    total = price * line["quantity"]
    line.update(
        variant_id=variant["id"], sku=variant["sku"], upc=variant["upc"],
        weight=variant["calculated_weight"], base_price=money(price), price_ex_tax=money(price),
        price_inc_tax=money(price), base_total=money(total), total_ex_tax=money(total),
        total_inc_tax=money(total), discounted_total_inc_tax=money(total),
    )  # fmt: skip
    line["product_options"] = [
        {
            "id": state.next_id(),
            "option_id": value["option_id"],
            "order_product_id": line["id"],
            "product_option_id": value["option_id"],
            "display_name": value["option_display_name"],
            "display_name_customer": value["option_display_name"],
            "display_name_merchant": value["option_display_name"],
            "display_value": value["label"],
            "display_value_customer": value["label"],
            "display_value_merchant": value["label"],
            "value": str(value["id"]),
            "type": "Multiple choice",
            "name": value["option_display_name"],
            "display_style": "Rectangle",
        }
        for value in variant["option_values"]
    ]


def _address(raw: dict[str, Any]) -> dict[str, Any]:
    keys = ("first_name", "last_name", "company", "street_1", "street_2", "city", "state")
    address = {key: str(raw.get(key, "")) for key in keys}
    address.update(
        zip=str(raw.get("zip", "")),
        country=str(raw.get("country", "United States")),
        country_iso2=str(raw.get("country_iso2", "US")),
        phone=str(raw.get("phone", "")),
        email=str(raw.get("email", "")),
        form_fields=[],
    )
    return address


def _shipping_address(
    address_id: int, order_id: int, raw: dict[str, Any], lines: list[dict[str, Any]]
) -> dict[str, Any]:
    address = _address(raw)
    address.update(
        id=address_id,
        order_id=order_id,
        items_total=sum(line["quantity"] for line in lines),
        items_shipped=0,
        shipping_method=str(raw.get("shipping_method", "Free Shipping")),
        base_cost=money(0),
        cost_ex_tax=money(0),
        cost_inc_tax=money(0),
        cost_tax=money(0),
        cost_tax_class_id=2,
        base_handling_cost=money(0),
        handling_cost_ex_tax=money(0),
        handling_cost_inc_tax=money(0),
        handling_cost_tax=money(0),
        handling_cost_tax_class_id=2,
        shipping_zone_id=1,
        shipping_zone_name="United States",
        shipping_quotes={"url": "", "resource": ""},
    )
    return address


def _order_record(
    store: Store,
    order_id: int,
    status_id: int,
    billing: dict[str, Any],
    lines: list[dict[str, Any]],
    now: datetime,
    body: dict[str, Any],
) -> dict[str, Any]:
    base = f"https://api.bigcommerce.com/stores/{store.store_hash}/v2/orders/{order_id}"
    zero = money(0)
    return {
        "id": order_id, "customer_id": body.get("customer_id", 0),
        "date_created": rfc2822(now), "date_modified": rfc2822(now), "date_shipped": "",
        "_modified": now, "_created": now,
        "status_id": status_id, "status": STATUSES[status_id], "custom_status": STATUSES[status_id],
        "shipping_cost_tax_class_id": 2, "base_handling_cost": zero,
        "handling_cost_ex_tax": zero, "handling_cost_inc_tax": zero, "handling_cost_tax": zero,
        "handling_cost_tax_class_id": 2, "base_wrapping_cost": zero,
        "wrapping_cost_ex_tax": zero, "wrapping_cost_inc_tax": zero, "wrapping_cost_tax": zero,
        "wrapping_cost_tax_class_id": 3,
        "items_total": sum(line["quantity"] for line in lines), "items_shipped": 0,
        "payment_method": body.get("payment_method", "Cash on Delivery"),
        "payment_provider_id": "", "payment_status": "",
        "refunded_amount": zero, "order_is_digital": False, "store_credit_amount": zero,
        "gift_certificate_amount": zero, "ip_address": "127.0.0.1", "ip_address_v6": "",
        "geoip_country": "", "geoip_country_iso2": "", "currency_id": 1,
        "currency_code": "USD", "currency_exchange_rate": "1.0000000000",
        "default_currency_id": 1, "default_currency_code": "USD",
        "store_default_currency_code": "USD",
        "store_default_to_transactional_exchange_rate": "1.0000000000",
        "staff_notes": body.get("staff_notes", ""),
        "customer_message": body.get("customer_message", ""), "shipping_address_count": 1,
        "is_deleted": False,
        "ebay_order_id": "0", "cart_id": "", "billing_address": billing,
        "is_email_opt_in": False, "credit_card_type": None, "order_source": "www",
        "channel_id": body.get("channel_id", 1),
        "external_source": body.get("external_source"), "external_id": None,
        "external_merchant_id": None, "external_order_id": "",
        "tax_provider_id": "BasicTaxProvider", "customer_locale": "en",
        "is_tax_inclusive_pricing": False,
        "products": {"url": f"{base}/products", "resource": f"/orders/{order_id}/products"},
        "shipping_addresses": {
            "url": f"{base}/shippingaddresses",
            "resource": f"/orders/{order_id}/shippingaddresses",
        },
        "coupons": {"url": f"{base}/coupons", "resource": f"/orders/{order_id}/coupons"},
    }  # fmt: skip


def _move_stock(state: BCSimState, store: Store, line: dict[str, Any], delta: int) -> None:
    """Order-driven stock move on tracked catalog products; fires inventory/order/updated."""
    product = store.products.get(line["product_id"])
    if product is None or delta == 0:
        return
    variant = store.variants.get(line.get("variant_id") or -1)
    if product["inventory_tracking"] == "variant" and variant is not None:
        level = max(0, variant["inventory_level"] + delta)
        variants.set_level(state, store, variant, DEFAULT_LOCATION_ID, level, method="relative")
        return
    if product["inventory_tracking"] != "product":
        return
    product["inventory_level"] = max(0, product["inventory_level"] + delta)
    store.stock[(product["id"], DEFAULT_LOCATION_ID)] = product["inventory_level"]
    inventory = {"product_id": product["id"], "method": "relative", "value": delta}
    data = {"type": "product", "id": product["id"], "inventory": inventory}
    state.emit(store, "store/product/inventory/order/updated", data)


# -- read -----------------------------------------------------------------------------------


def get_order(store: Store, order_id: int) -> dict[str, Any]:
    order = store.orders.get(order_id)
    if order is None:
        raise ApiError(404, "The requested resource was not found.")
    return order


def list_orders(store: Store, args: dict[str, str]) -> list[dict[str, Any]]:
    """GET /v2/orders filters and sort (pagination is applied by the caller)."""
    orders = [o for o in store.orders.values() if _order_matches(o, args)]
    field_name, _, direction = args.get("sort", "id:asc").partition(":")
    if field_name not in SORT_FIELDS:
        raise ApiError(400, f"Invalid sort field {field_name}")
    key = {"date_created": "_created", "date_modified": "_modified"}.get(field_name, field_name)
    return sorted(orders, key=lambda o: o[key], reverse=direction == "desc")


def _order_matches(order: dict[str, Any], args: dict[str, str]) -> bool:
    def as_int(name: str) -> int:
        try:
            return int(args[name])
        except ValueError as exc:
            raise ApiError(400, f"Invalid value for {name}") from exc

    tests: list[tuple[str, Callable[[], bool]]] = [
        ("min_date_modified", lambda: order["_modified"] >= parse_date(args["min_date_modified"])),
        ("max_date_modified", lambda: order["_modified"] <= parse_date(args["max_date_modified"])),
        ("min_date_created", lambda: order["_created"] >= parse_date(args["min_date_created"])),
        ("max_date_created", lambda: order["_created"] <= parse_date(args["max_date_created"])),
        ("status_id", lambda: order["status_id"] == as_int("status_id")),
        ("min_id", lambda: order["id"] >= as_int("min_id")),
        ("max_id", lambda: order["id"] <= as_int("max_id")),
        ("email", lambda: order["billing_address"]["email"].lower() == args["email"].lower()),
        ("channel_id", lambda: order["channel_id"] == as_int("channel_id")),
    ]
    return all(test() for name, test in tests if name in args)


# -- change ---------------------------------------------------------------------------------


def _touch(order: dict[str, Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    order["_modified"] = now
    order["date_modified"] = rfc2822(now)


def set_status(state: BCSimState, store: Store, order_id: int, status_id: int) -> dict[str, Any]:
    """Change status; Cancelled/Refunded put the not-yet-restocked quantities back."""
    order = get_order(store, order_id)
    if status_id not in STATUSES:
        raise ApiError(400, f"status_id {status_id} is not a valid order status")
    previous = order["status_id"]
    if previous == status_id:
        return order
    order.update(status_id=status_id, status=STATUSES[status_id], custom_status=STATUSES[status_id])
    if status_id in RESTOCK_STATUSES:
        for line in store.order_lines[order_id]:
            _restock(state, store, line, line["quantity"] - line["_restocked"])
    _touch(order)
    data = {"type": "order", "id": order_id}
    status = {"previous_status_id": previous, "new_status_id": status_id}
    state.emit(store, "store/order/statusUpdated", {**data, "status": status})
    state.emit(store, "store/order/updated", data)
    return order


def _restock(state: BCSimState, store: Store, line: dict[str, Any], quantity: int) -> None:
    if quantity > 0:
        line["_restocked"] += quantity
        _move_stock(state, store, line, quantity)


def update_order(state: BCSimState, store: Store, order_id: int, body: Any) -> dict[str, Any]:
    """PUT /v2/orders/{id}: status_id plus a few free-text fields."""
    order = get_order(store, order_id)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    texts = {k: body[k] for k in ("staff_notes", "customer_message") if k in body}
    if texts:
        order.update(texts)
        _touch(order)
        state.emit(store, "store/order/updated", {"type": "order", "id": order_id})
    if "status_id" in body:
        set_status(state, store, order_id, body["status_id"])
    return order


def refund(
    state: BCSimState, store: Store, order_id: int, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Refund line quantities (``order_product_id`` + ``quantity``) and/or an amount of the
    whole order (``{"amount": "5.00"}``, item_type ORDER): record them (the v3 refunds API
    lists them), restock lines, set status 14 or 4, fire events."""
    order = get_order(store, order_id)
    lines = {line["id"]: line for line in store.order_lines[order_id]}
    for item in items:
        if "order_product_id" not in item:
            try:
                ok = Decimal(str(item.get("amount"))) > 0
            except ArithmeticError:
                ok = False
            if not ok:
                raise ApiError(422, "an order-level refund needs a positive amount")
            continue
        line = lines.get(item.get("order_product_id"))
        quantity = item.get("quantity", 0)
        if line is None:
            raise ApiError(422, f"order product {item.get('order_product_id')} not found")
        if not isinstance(quantity, int) or not 0 < quantity <= _refundable(line):
            raise ApiError(422, f"cannot refund {quantity} of order product {line['id']}")
    total = Decimal(0)
    refund_items = []
    for item in items:
        if "order_product_id" not in item:
            amount = Decimal(str(item["amount"]))
            total += amount
            refund_items.append(
                {"item_type": "ORDER", "item_id": order_id, "requested_amount": float(amount)}
            )
            continue
        line = lines[item["order_product_id"]]
        amount = Decimal(line["price_inc_tax"]) * item["quantity"]
        line["quantity_refunded"] += item["quantity"]
        line["refund_amount"] = money(Decimal(line["refund_amount"]) + amount)
        line["is_refunded"] = _refundable(line) == 0
        total += amount
        _restock(state, store, line, item["quantity"])
        refund_items.append(
            {
                "item_type": "PRODUCT", "item_id": line["id"], "quantity": item["quantity"],
                "requested_amount": float(amount),
            }
        )  # fmt: skip
    order["refunded_amount"] = money(Decimal(order["refunded_amount"]) + total)
    fully = all(_refundable(line) == 0 for line in lines.values()) or Decimal(
        order["refunded_amount"]
    ) >= Decimal(order["total_inc_tax"])
    order["payment_status"] = "refunded" if fully else "partially refunded"
    refund_id = state.next_id()
    order.setdefault("_refunds", []).append(
        {
            "id": refund_id, "order_id": order_id, "user_id": 0,
            "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "reason": "", "total_amount": float(total), "total_tax": 0.0,
            "uses_merchant_override_values": False, "items": refund_items,
            "payments": [
                {
                    "id": state.next_id(), "provider_id": "testgateway",
                    "amount": float(total), "offline": False, "is_declined": False,
                    "declined_message": "",
                }
            ],
        }
    )  # fmt: skip
    _touch(order)
    data = {"type": "order", "id": order_id, "refund": {"refund_id": refund_id}}
    state.emit(store, "store/order/refund/created", data)
    set_status(state, store, order_id, 4 if fully else 14)
    return {"refund_id": refund_id, "amount": money(total), "order": public(order)}


def refunds(store: Store, order_id: int) -> list[dict[str, Any]]:
    """GET /v3/orders/{id}/payment_actions/refunds: ascending refund id."""
    return [dict(r) for r in get_order(store, order_id).get("_refunds", [])]


def _refundable(line: dict[str, Any]) -> int:
    return line["quantity"] - line["quantity_refunded"]


def check_sellable(store: Store, body: dict[str, Any]) -> None:
    """A shopper buys on one storefront: every catalog product must be assigned to it."""
    channel_id = body.get("channel_id", 1)
    for line in body.get("products") or ():
        pid = line.get("product_id") if isinstance(line, dict) else None
        if pid in store.products and not store.sellable_on(pid, channel_id):
            raise ApiError(400, f"product {pid} is not available on channel {channel_id}")


def checkout_body(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """A realistic shopper order body from a few fields (the /_sim checkout helper)."""
    email = body.get("email", "shopper@example.com")
    address = {
        "first_name": body.get("first_name", "Sam"),
        "last_name": body.get("last_name", "Shopper"),
        "street_1": "1 Main St",
        "city": "Austin",
        "state": "Texas",
        "zip": "78701",
        "country": "United States",
        "country_iso2": "US",
        "phone": body.get("phone", "5550100"),
        "email": email,
    }
    return {
        "billing_address": address,
        "shipping_addresses": [{**address, "shipping_method": "Flat Rate"}],
        "products": body.get("products", []),
        "status_id": body.get("status_id", 11),
        "channel_id": body.get("channel_id", 1),
        "customer_id": body.get("customer_id", 0),
        "payment_method": "Test Payment Gateway",
        # A storefront checkout has shipping, tax and often a coupon (issue 15 item 4).
        "shipping_cost_ex_tax": body.get("shipping_cost_ex_tax", "5.00"),
        "_tax_rate": body.get("tax_rate", "0.0825"),
        "_coupon": body.get("coupon", {"code": "SAVE2", "amount": "2.00"}),
    }
