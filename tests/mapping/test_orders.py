"""Order rule: BigCommerce v2 orders become Bindo orders; refunds apply exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.mapping import (
    MappingError,
    UnknownLine,
    bindo_refund,
    customer_from_billing,
    is_cancelled,
    is_refunded,
    is_waiting,
    map_order,
    refund_reference,
    should_import,
)

ORDER = {
    "id": 120,
    "status_id": 11,
    "default_currency_code": "USD",
    "currency_code": "EUR",
    "customer_message": "Leave at the door",
    "billing_address": {"email": "Ann@Example.com"},
}
LINES = [
    {
        "id": 901,
        "product_id": 77,
        "name": "Trail Runner",
        "sku": "ABC-1",
        "price_inc_tax": "12.5000",
        "quantity": 2,
    },
    {
        "id": 902,
        "product_id": 0,
        "name": "Gift wrap",
        "sku": "",
        "price_inc_tax": "3.0050",
        "quantity": 1,
    },
]
SHIPPING = [
    {
        "first_name": "Ann",
        "last_name": "Lee",
        "street_1": "1 Main St",
        "street_2": "",
        "city": "Austin",
        "state": "Texas",
        "zip": "78701",
        "country": "United States",
        "shipping_method": "Flat Rate",
    }
]


def mapped_order(**kwargs):
    args = {
        "store_hash": "abc123",
        "location_id": 3,
        "product_bindings": {77: 101},
        "customer_id": 55,
    }
    args.update(kwargs)
    return map_order(ORDER, LINES, SHIPPING, **args)


def test_order_body_has_reference_location_customer_and_status():
    body = mapped_order().body
    assert body["external_reference"] == "bc-abc123-120"
    assert (body["location_id"], body["customer_id"]) == (3, 55)
    assert (body["status"], body["payment_status"]) == ("unfulfilled", "paid")
    assert body["currency"] == "USD"


def test_order_lines_map_to_bindo_line_items_with_unknown_products_flagged():
    result = mapped_order()
    assert result.body["line_items"] == [
        {
            "product_id": 101,
            "name": "Trail Runner",
            "sku": "ABC-1",
            "price": "12.50",
            "quantity": 2,
            "external_line_id": "901",
        },
        {
            "product_id": None,
            "name": "Gift wrap",
            "sku": "",
            "price": "3.01",
            "quantity": 1,
            "external_line_id": "902",
        },
    ]
    assert result.unknown_lines == (UnknownLine(902, None, "Gift wrap", ""),)


def test_custom_line_is_matched_by_sku_when_sku_bindings_given():
    lines = [{**LINES[0], "product_id": 0, "sku": "abc-1"}]
    result = map_order(
        ORDER,
        lines,
        [],
        store_hash="s",
        location_id=1,
        product_bindings={},
        customer_id=None,
        sku_bindings={"abc-1": 101},
    )
    assert result.body["line_items"][0]["product_id"] == 101
    assert result.unknown_lines == ()


def test_note_carries_order_number_shipping_and_customer_message():
    note = mapped_order().body["note"]
    assert note.splitlines() == [
        "BigCommerce order #120",
        "Ship to: Ann Lee, 1 Main St, Austin, Texas 78701, United States (Flat Rate)",
        "Customer message: Leave at the door",
    ]


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("12.5000", "12.50"),
        ("0.0050", "0.01"),
        ("0.0049", "0.00"),
        ("100", "100.00"),
        (9.999, "10.00"),
    ],
)
def test_line_price_is_tax_inclusive_with_two_places(price, expected):
    lines = [{**LINES[0], "price_inc_tax": price}]
    body = map_order(
        ORDER, lines, [], store_hash="s", location_id=1, product_bindings={}, customer_id=None
    ).body
    assert body["line_items"][0]["price"] == expected


@pytest.mark.parametrize("price", ["n/a", None, "", "NaN"])
def test_unparsable_line_price_is_an_order_error(price):
    lines = [{**LINES[0], "price_inc_tax": price}]
    with pytest.raises(MappingError) as caught:
        map_order(
            ORDER, lines, [], store_hash="s", location_id=1, product_bindings={}, customer_id=None
        )
    assert caught.value.code == "order_price_unparsable"


def test_currency_falls_back_to_display_currency():
    order = {**ORDER, "default_currency_code": None}
    body = map_order(
        order, [], [], store_hash="s", location_id=1, product_bindings={}, customer_id=None
    ).body
    assert body["currency"] == "EUR"


@pytest.mark.parametrize(
    ("billing", "expected"),
    [
        (
            {
                "first_name": " Ann ",
                "last_name": "Lee",
                "email": "  Ann.Lee@Example.COM ",
                "phone": "555-0100",
                "street_1": "1 Main St",
                "street_2": "Apt 2",
                "city": "Austin",
                "state": "Texas",
                "zip": "78701",
                "country": "United States",
            },
            {
                "email": "ann.lee@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "phone": "555-0100",
                "address": {
                    "line1": "1 Main St",
                    "line2": "Apt 2",
                    "city": "Austin",
                    "state": "Texas",
                    "zip": "78701",
                    "country": "United States",
                },
            },
        ),
        (
            {"email": "b@x.io"},
            {
                "email": "b@x.io",
                "first_name": "",
                "last_name": "",
                "phone": "",
                "address": {
                    "line1": "",
                    "line2": "",
                    "city": "",
                    "state": "",
                    "zip": "",
                    "country": "",
                },
            },
        ),
        ({"email": "", "first_name": "Ann"}, None),
        ({"email": "   "}, None),
        ({"first_name": "Ann"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_customer_from_billing_needs_an_email(billing, expected):
    assert customer_from_billing(billing) == expected


@pytest.mark.parametrize(
    ("status_id", "imported"),
    [(0, False), (1, False), (2, True), (3, True), (4, True), (5, False), (6, False),
     (7, False), (8, True), (9, True), (10, True), (11, True), (12, False), (13, False),
     (14, True)],
)  # fmt: skip
def test_only_placed_and_paid_orders_are_imported(status_id, imported):
    assert should_import(status_id) is imported


@pytest.mark.parametrize(
    ("status_id", "waiting"),
    [(0, True), (1, True), (7, True), (12, True), (13, True), (11, False), (5, False)],
)
def test_unpaid_orders_wait(status_id, waiting):
    assert is_waiting(status_id) is waiting


@pytest.mark.parametrize(
    ("status_id", "cancelled", "refunded"),
    [(5, True, False), (4, False, True), (14, False, True), (11, False, False), (0, False, False)],
)
def test_cancel_and_refund_statuses(status_id, cancelled, refunded):
    assert (is_cancelled(status_id), is_refunded(status_id)) == (cancelled, refunded)


BINDO_ORDER = {
    "id": 5000,
    "line_items": [
        {"id": 1, "external_line_id": "901", "quantity": 3, "refunded_quantity": 0},
        {"id": 2, "external_line_id": "902", "quantity": 2, "refunded_quantity": 1},
    ],
}


def refund(*items, total="0"):
    return {"id": 77, "total_amount": total, "items": list(items)}


@pytest.mark.parametrize(
    ("bc_refund", "lines"),
    [
        (refund({"item_type": "PRODUCT", "item_id": 901, "quantity": 1}), [(1, 1)]),
        (
            refund(
                {"item_type": "PRODUCT", "item_id": 901, "quantity": 3},
                {"item_type": "PRODUCT", "item_id": 902, "quantity": 1},
            ),
            [(1, 3), (2, 1)],
        ),
        # Bindo's line 2 has 1 of 2 refunded already: never beyond what is left.
        (refund({"item_type": "PRODUCT", "item_id": 902, "quantity": 2}), [(2, 1)]),
        (refund({"item_type": "PRODUCT", "item_id": 903, "quantity": 1}), []),  # unknown line
        (refund({"item_type": "ORDER", "item_id": 5000, "requested_amount": 5}), []),
        (refund(), []),  # a tax-only adjustment: no items
    ],
)
def test_a_bigcommerce_refund_becomes_bindo_refund_lines(bc_refund, lines):
    body = bindo_refund(bc_refund, BINDO_ORDER)
    assert body["line_items"] == [{"line_item_id": i, "quantity": q} for i, q in lines]


def test_the_refund_amount_is_bigcommerces_total_amount():
    body = bindo_refund(refund({"item_type": "ORDER", "item_id": 5000}, total=4.5), BINDO_ORDER)
    assert body == {"line_items": [], "amount": "4.50"}


def test_each_bigcommerce_refund_has_its_own_reference():
    assert refund_reference("abc", 10, 77) == "bc-abc-10-refund-77"
    assert refund_reference("abc", 10, 77) != refund_reference("abc", 10, 78)


def test_order_totals_carry_every_part_and_the_rounding_left_over():
    from shared.mapping.orders import order_totals

    order = {
        "subtotal_ex_tax": "10.0000", "shipping_cost_ex_tax": "4.0000",
        "handling_cost_ex_tax": "1.0000", "wrapping_cost_ex_tax": "0.0000",
        "total_tax": "1.1000", "discount_amount": "0.5000", "coupon_discount": "1.0000",
        "total_inc_tax": "14.6100", "payment_method": " Card ",
    }  # fmt: skip
    lines = [{"price": "3.33", "quantity": 3}]  # 9.99: one cent of rounding on the lines
    totals = order_totals(order, lines, [{"code": "TEN", "amount": 10, "discount": "1.00"}])
    assert totals == {
        "subtotal": "9.99",
        "shipping_total": "5.00",
        "tax_total": "1.10",
        "discount_total": "1.50",
        "discounts": [
            {"type": "coupon", "code": "TEN", "amount": "1.00"},
            {"type": "discount", "code": "", "amount": "0.50"},
        ],
        "adjustment_total": "0.02",
        "payment_method": "Card",
        "total": "14.61",
    }
    parts = sum(Decimal(totals[k]) for k in ("subtotal", "shipping_total", "tax_total"))
    assert parts - Decimal("1.50") + Decimal("0.02") == Decimal("14.61")
