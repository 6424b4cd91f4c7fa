"""Order lines for variants: the right Bindo variant, its stock lowered, restocked on cancel
and refund (in-process, simulators over HTTP)."""

from __future__ import annotations

from decimal import Decimal

from portal.extensions import db
from portal.models import ImportedOrder
from tests.catalog.helpers import make_category, push
from tests.orders.helpers import order_lines, place_order, refund, set_status
from tests.stock.helpers import BINDO_LOCATION, bound_product
from worker.sync import orders

OPTIONS = [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}]


def shop_with_tee(stack, store_hash: str):
    merchant = stack.linked_merchant(store_hash)
    make_category(merchant, "Shoes")
    tee = stack.bindo.create_product(
        merchant.bindo_store_id,
        name="Tee",
        price="20",
        category="Shoes",
        image_count=0,
        options=OPTIONS,
        variants=[
            {
                "option_values": [
                    {"option": "Size", "value": size},
                    {"option": "Colour", "value": "Red"},
                ],
                "sku": f"TEE-{size}",
                "stock": {BINDO_LOCATION: 10},
            }
            for size in ("S", "M")
        ],
    )
    push(merchant.id, [tee["id"]])
    store = stack.bc.store(store_hash)
    with stack.bc.lock:
        bc_variants = {v["sku"]: v for v in store.variants.values()}
        for variant in bc_variants.values():
            variant["inventory_level"] = 100  # plenty for shoppers, before any stock push
    return merchant, tee, bc_variants


def qty(stack, merchant, tee, index: int) -> Decimal:
    variant_id = tee["variants"][index]["id"]
    return stack.bindo.get_stock(merchant.bindo_store_id, tee["id"], BINDO_LOCATION, variant_id)


def test_a_variant_line_lowers_that_variant_and_cancel_restocks_it(stack):
    m, tee, bc = shop_with_tee(stack, "vord1")
    line = {"product_id": bc["TEE-M"]["product_id"], "variant_id": bc["TEE-M"]["id"], "quantity": 3}
    oid = place_order(stack, "vord1", [line])

    assert orders.import_order(m, oid) == "imported"

    (bindo_order,) = stack.bindo.orders(m.bindo_store_id)
    (item,) = bindo_order["line_items"]
    assert item["product_id"] == tee["id"] and item["variant_id"] == tee["variants"][1]["id"]
    assert item["name"] == "Tee (Size: M, Colour: Red)" and item["sku"] == "TEE-M"
    assert qty(stack, m, tee, 1) == 7 and qty(stack, m, tee, 0) == 10
    set_status(stack, "vord1", oid, 5)
    assert orders.import_order(m, oid) == "cancelled"
    assert qty(stack, m, tee, 1) == 10


def test_a_refund_restocks_the_refunded_variant(stack):
    m, tee, bc = shop_with_tee(stack, "vord2")
    plain = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    lines = [
        {"product_id": bc["TEE-S"]["product_id"], "variant_id": bc["TEE-S"]["id"], "quantity": 2},
        {"product_id": plain.bc_product_id, "quantity": 1},
    ]
    oid = place_order(stack, "vord2", lines)
    orders.import_order(m, oid)
    assert qty(stack, m, tee, 0) == 8
    variant_line, _ = order_lines(stack, "vord2", oid)

    refund(stack, "vord2", oid, [(variant_line["id"], 1)])

    assert orders.import_order(m, oid) == "partially_refunded"
    assert qty(stack, m, tee, 0) == 9


def test_a_line_for_an_unknown_variant_is_a_flagged_custom_line(stack):
    m, tee, bc = shop_with_tee(stack, "vord3")
    from sandbox.bigcommerce import variants as bc_variants

    store = stack.bc.store("vord3")
    with stack.bc.lock:  # a variant the merchant added in BigCommerce only
        options = store.options[bc["TEE-S"]["product_id"]]
        refs = [bc_variants.value_ref(o, o["option_values"][0]["label"]) for o in options]
        product = store.products[bc["TEE-S"]["product_id"]]
        extra = bc_variants.save_new(stack.bc, store, product, {"sku": "BC-ONLY"}, refs)
        extra["inventory_level"] = 5
    line = {"product_id": product["id"], "variant_id": extra["id"], "quantity": 1}
    oid = place_order(stack, "vord3", [line])

    assert orders.import_order(m, oid) == "imported"

    (item,) = stack.bindo.orders(m.bindo_store_id)[0]["line_items"]
    assert item["product_id"] is None and "variant_id" not in item
    row = db.session.query(ImportedOrder).filter_by(bc_order_id=oid).one()
    assert row.flags  # staff see the unknown line
    assert qty(stack, m, tee, 0) == 10 and qty(stack, m, tee, 1) == 10
