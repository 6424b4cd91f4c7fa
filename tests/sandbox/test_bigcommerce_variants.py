"""The BigCommerce simulator's variants: create inline, batch update, lookups, stock, orders."""

from __future__ import annotations

from typing import Any

import requests

from tests.sandbox.conftest import product_body


def tee_body(**overrides: Any) -> dict[str, Any]:
    def variant(size: str, colour: str, **extra: Any) -> dict[str, Any]:
        values = [
            {"option_display_name": "Size", "label": size},
            {"option_display_name": "Colour", "label": colour},
        ]
        return {"sku": f"TEE-{size}-{colour}", "option_values": values, **extra}

    body = product_body(
        name="Tee",
        sku="TEE",
        price=20,
        inventory_tracking="variant",
        variants=[
            variant("S", "Red", inventory_level=3),
            variant("M", "Red", price=22, weight=0.6),
            variant("S", "Blue", upc="012345678905"),
        ],
    )
    body.update(overrides)
    return body


def create_tee(bc_store, **overrides: Any) -> dict[str, Any]:
    response = bc_store.post("/v3/catalog/products", tee_body(**overrides))
    assert response.status_code == 200, response.text
    product = response.json()["data"]
    full = bc_store.get(
        f"/v3/catalog/products/{product['id']}", params={"include": "variants,options"}
    )
    return full.json()["data"]


def test_create_with_variants_makes_options_and_variants_in_one_request(bc_store):
    tee = create_tee(bc_store)
    assert tee["base_variant_id"] is None
    options = {o["display_name"]: [v["label"] for v in o["option_values"]] for o in tee["options"]}
    assert options == {"Size": ["S", "M"], "Colour": ["Red", "Blue"]}
    by_sku = {v["sku"]: v for v in tee["variants"]}
    assert by_sku["TEE-S-Red"]["inventory_level"] == 3
    assert by_sku["TEE-S-Red"]["price"] is None and by_sku["TEE-S-Red"]["calculated_price"] == 20
    assert by_sku["TEE-M-Red"]["calculated_price"] == 22
    assert by_sku["TEE-M-Red"]["calculated_weight"] == 0.6
    labels = [(v["option_display_name"], v["label"]) for v in by_sku["TEE-S-Blue"]["option_values"]]
    assert labels == [("Size", "S"), ("Colour", "Blue")]


def test_inline_variant_rules(bc_store):
    too_many = [
        {"sku": f"V{i}", "option_values": [{"option_display_name": "N", "label": str(i)}]}
        for i in range(601)
    ]
    assert bc_store.post("/v3/catalog/products", tee_body(variants=too_many)).status_code == 422
    missing_sku = tee_body()
    del missing_sku["variants"][0]["sku"]
    assert bc_store.post("/v3/catalog/products", missing_sku).status_code == 422
    create_tee(bc_store)
    again = bc_store.post("/v3/catalog/products", tee_body(name="Other", sku="OTHER"))
    assert again.status_code == 409  # variant SKUs are store-wide unique
    clash = bc_store.post("/v3/catalog/products", product_body(name="Mug", sku="tee-s-red"))
    assert clash.status_code == 409  # products and variants share one SKU space


def test_variant_lookups_by_sku_upc_and_product(bc_store):
    tee = create_tee(bc_store)
    one = bc_store.get("/v3/catalog/variants", params={"sku": "tee-m-red"}).json()["data"]
    assert [v["sku"] for v in one] == ["TEE-M-Red"]
    many = bc_store.get("/v3/catalog/variants", params={"sku:in": "TEE-S-Red,TEE-S-Blue,NOPE"})
    assert sorted(v["sku"] for v in many.json()["data"]) == ["TEE-S-Blue", "TEE-S-Red"]
    by_upc = bc_store.get("/v3/catalog/variants", params={"upc": "012345678905"}).json()["data"]
    assert [v["sku"] for v in by_upc] == ["TEE-S-Blue"]
    mine = bc_store.get("/v3/catalog/variants", params={"product_id:in": str(tee["id"])})
    assert len(mine.json()["data"]) == 3


def test_batch_update_up_to_fifty_and_creates_variants(bc_store):
    tee = create_tee(bc_store)
    first = tee["variants"][0]
    updated = bc_store.put(
        "/v3/catalog/variants", [{"id": first["id"], "price": 19.5, "purchasing_disabled": True}]
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"][0]["calculated_price"] == 19.5
    assert updated.json()["data"][0]["purchasing_disabled"] is True
    assert bc_store.put("/v3/catalog/variants", [{"id": first["id"]}] * 51).status_code == 413
    size = next(o for o in tee["options"] if o["display_name"] == "Size")
    colour = next(o for o in tee["options"] if o["display_name"] == "Colour")
    large = bc_store.post(
        f"/v3/catalog/products/{tee['id']}/options/{size['id']}/values",
        {"label": "L", "sort_order": 2},
    )
    assert large.status_code == 200, large.text
    red = next(v for v in colour["option_values"] if v["label"] == "Red")
    new = {
        "product_id": tee["id"],
        "sku": "TEE-L-Red",
        "option_values": [
            {"id": large.json()["data"]["id"], "option_id": size["id"]},
            {"id": red["id"], "option_id": colour["id"]},
        ],
    }
    created = bc_store.put("/v3/catalog/variants", [new])
    assert created.status_code == 200, created.text
    assert bc_store.put("/v3/catalog/variants", [{**new, "sku": "X"}]).status_code == 422
    unknown = bc_store.put("/v3/catalog/variants", [{"id": 999999, "price": 1}])
    assert unknown.status_code == 422


def test_variant_stock_by_variant_id_and_sku_only(bc_store):
    tee = create_tee(bc_store)
    variant = tee["variants"][1]
    items = [{"location_id": 1, "variant_id": variant["id"], "quantity": 7}]
    ok = bc_store.put("/v3/inventory/adjustments/absolute", {"items": items})
    assert ok.status_code == 200, ok.text
    read = bc_store.get(f"/v3/catalog/products/{tee['id']}/variants/{variant['id']}")
    assert read.json()["data"]["inventory_level"] == 7
    by_product = [{"location_id": 1, "product_id": tee["id"], "quantity": 7}]
    refused = bc_store.put("/v3/inventory/adjustments/absolute", {"items": by_product})
    assert refused.status_code == 422
    assert "tracked by variant" in refused.text
    found = bc_store.get("/v3/inventory/items", params={"product_id:in": str(tee["id"])})
    identities = [item["identity"]["variant_id"] for item in found.json()["data"]]
    assert identities == [v["id"] for v in tee["variants"]]


def test_orders_name_the_variant_and_move_its_stock(bc_store, bc_sim):
    tee = create_tee(bc_store)
    bc_store.put(
        "/v3/catalog/products/channel-assignments", [{"product_id": tee["id"], "channel_id": 1}]
    )  # sellable on the storefront channel
    small_red = next(v for v in tee["variants"] if v["sku"] == "TEE-S-Red")
    state = bc_sim.state
    url = f"{bc_sim.url}/_sim/stores/{bc_store.store_hash}/checkout"
    plain_line = {"product_id": tee["id"], "quantity": 1}
    without = requests.post(url, json={"products": [plain_line]}, timeout=5)
    assert without.status_code == 400
    line = {"product_id": tee["id"], "variant_id": small_red["id"], "quantity": 2}
    placed = requests.post(url, json={"products": [line]}, timeout=5)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    lines = bc_store.get(f"/v2/orders/{order_id}/products").json()
    assert lines[0]["variant_id"] == small_red["id"] and lines[0]["sku"] == "TEE-S-Red"
    chosen = {(o["display_name"], o["display_value"]) for o in lines[0]["product_options"]}
    assert chosen == {("Size", "S"), ("Colour", "Red")}
    with state.lock:
        assert state.stores[bc_store.store_hash].variants[small_red["id"]]["inventory_level"] == 1
    cancelled = bc_store.put(f"/v2/orders/{order_id}", {"status_id": 5})
    assert cancelled.status_code == 200
    with state.lock:
        assert state.stores[bc_store.store_hash].variants[small_red["id"]]["inventory_level"] == 3
