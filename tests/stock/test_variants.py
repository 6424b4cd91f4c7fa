"""Stock of products with variants: absolute levels by variant_id, same rules as products."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import VariantBinding
from tests.catalog.helpers import make_category, push
from tests.stock.helpers import bound_product
from worker.sync import stock

ABSOLUTE = "PUT /v3/inventory/adjustments/absolute"
OPTIONS = [{"name": "Size", "values": ["S", "M", "L"]}]


def tee(stack, merchant, stock_by_size: dict[str, dict[int, Any]], **fields: Any) -> dict:
    """A Bindo product with one variant per size (with its stock), pushed to BigCommerce."""
    product = stack.bindo.create_product(
        merchant.bindo_store_id,
        name=fields.pop("name", "Tee"),
        price="20",
        category="Shoes",
        image_count=0,
        options=OPTIONS,
        variants=[
            {"option_values": [{"option": "Size", "value": size}], "sku": f"T-{size}", "stock": s}
            for size, s in stock_by_size.items()
        ],
        **fields,
    )
    push(merchant.id, [product["id"]])
    return product


def shop(stack, store_hash: str, **settings: Any):
    merchant = stack.linked_merchant(store_hash, **settings)
    make_category(merchant, "Shoes")
    return merchant


def levels(stack, store_hash: str, location: int = 1) -> dict[str, int]:
    store = stack.bc.store(store_hash)
    with stack.bc.lock:
        return {
            v["sku"]: store.variant_stock.get((v["id"], location), 0)
            for v in store.variants.values()
        }


def absolute_requests(stack, store_hash: str) -> int:
    return stack.bc.request_summary(store_hash)["by_endpoint"].get(ABSOLUTE, 0)


def test_variant_levels_go_by_variant_id_whole_and_non_negative(stack):
    m = shop(stack, "vstk1")
    product = tee(stack, m, {"S": {10: "2.9"}, "M": {10: "-3"}, "L": {10: 7}})
    stack.bc.reset_requests()

    result = stock.push_stock(m, [product["id"]])

    assert result.sent == 3 and absolute_requests(stack, "vstk1") == 1
    assert levels(stack, "vstk1") == {"T-S": 2, "T-M": 0, "T-L": 7}
    assert all("variant_id" in item for item in result.sent_items)
    rows = db.session.scalars(select(VariantBinding).order_by(VariantBinding.id)).all()
    assert [r.stock_pushed for r in rows] == [{"1": 2}, {"1": 0}, {"1": 7}]
    stack.bc.reset_requests()
    assert stock.push_stock(m, [product["id"]]).sent == 0
    assert absolute_requests(stack, "vstk1") == 0
    small = product["variants"][0]["id"]
    stack.bindo.set_stock(m.bindo_store_id, product["id"], 10, 1, small)
    assert stock.push_stock(m, [product["id"]]).sent == 1
    assert levels(stack, "vstk1")["T-S"] == 1


def test_buffer_and_locations_apply_per_variant(stack):
    locations = [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    m = shop(stack, "vstk2", locations=locations, safety_buffer=2)
    tee(stack, m, {"S": {10: 2, 11: "3.5"}, "M": {11: 1}})

    stock.push_stock(m, None)

    assert levels(stack, "vstk2") == {"T-S": 3, "T-M": 0}


def test_products_and_variants_both_sent_and_removed_variants_get_none(stack):
    m = shop(stack, "vstk3")
    plain = bound_product(stack, m, stock={10: 4})
    product = tee(stack, m, {"S": {10: 1}, "M": {10: 2}})
    stack.bindo.delete_variant(m.bindo_store_id, product["id"], product["variants"][1]["id"])
    push(m.id, [product["id"]])
    stack.bc.reset_requests()

    result = stock.push_stock(m, None)

    assert absolute_requests(stack, "vstk3") == 2  # products' items, then variants' items
    sent = {tuple(sorted(i)) for i in result.sent_items}
    assert sent == {
        ("location_id", "product_id", "quantity"),
        ("location_id", "quantity", "variant_id"),
    }
    assert {i.get("product_id") for i in result.sent_items} == {plain.bc_product_id, None}
    assert levels(stack, "vstk3") == {"T-S": 1, "T-M": 0}  # the removed one: not sent


def test_reconcile_fixes_variant_drift(stack):
    m = shop(stack, "vstk4")
    tee(stack, m, {"S": {10: 4}, "M": {10: 6}})
    stock.push_stock(m, None)
    store = stack.bc.store("vstk4")
    with stack.bc.lock:  # a hand edit in the control panel
        small = next(v for v in store.variants.values() if v["sku"] == "T-S")
        store.variant_stock[(small["id"], 1)] = 99

    result = stock.reconcile_stock(m)

    assert result.drift == 1 and levels(stack, "vstk4") == {"T-S": 4, "T-M": 6}
    assert stock.reconcile_stock(m).drift == 0


def test_orders_allowed_out_of_stock_send_no_variant_levels(stack):
    m = shop(stack, "vstk5", allow_out_of_stock_orders=True)
    tee(stack, m, {"S": {10: 4}})
    product = next(iter(stack.bc.store("vstk5").products.values()))
    assert product["inventory_tracking"] == "none"
    assert stock.push_stock(m, None).sent == 0
