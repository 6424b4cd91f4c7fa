"""Products with variants, Bindo -> BigCommerce, against both simulators over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ProductBinding, SyncRun, SyncRunItem, SyncState, VariantBinding
from tests.catalog.helpers import (
    bc_product,
    binding,
    endpoints,
    make_category,
    new_product,
    push,
    total,
    weight,
    writes,
)

STORE = "vars1"
SIZES = {"name": "Size", "values": ["S", "M", "L"]}
COLOURS = {"name": "Colour", "values": ["Red", "Blue"]}


def variant(size: str, colour: str = "Red", **fields: Any) -> dict[str, Any]:
    values = [{"option": "Size", "value": size}, {"option": "Colour", "value": colour}]
    return {"option_values": values, "sku": f"TEE-{size}-{colour}", **fields}


def new_tee(stack, merchant, *variants: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fields.setdefault("options", [SIZES, COLOURS])
    fields.setdefault("custom_attributes", weight("200 g"))
    chosen = list(variants) or [variant("S"), variant("M", price="22"), variant("S", "Blue")]
    return new_product(stack, merchant, variants=chosen, **fields)


def bc_variants(stack, bc_id: int) -> dict[str, dict[str, Any]]:
    store = stack.bc.stores[STORE]
    return {v["sku"]: v for v in store.variants.values() if v["product_id"] == bc_id}


def rows(merchant_id: int, bindo_id: int) -> dict[str, VariantBinding]:
    db.session.expire_all()
    found = db.session.scalars(
        select(VariantBinding).where(
            VariantBinding.merchant_id == merchant_id,
            VariantBinding.bindo_product_id == bindo_id,
        )
    )
    return {row.sku: row for row in found}


@pytest.fixture
def shop(stack):
    merchant = stack.linked_merchant(STORE, weight_units="KGS")
    make_category(merchant, "Shoes")
    stack.bc.reset_requests()
    return merchant


def test_created_with_options_and_variants_in_one_request(stack, shop):
    tee = new_tee(stack, shop, variant("S"), variant("M", price="22",
                  custom_attributes=weight("300 g"), upc="012345678905"))  # fmt: skip

    counts = push(shop.id, [tee["id"]])

    assert counts["created"] == 1
    assert writes(stack, STORE) == {
        "POST /v3/catalog/products": 1,
        "PUT /v3/catalog/products/channel-assignments": 1,
    }
    bc_id = binding(shop.id, tee["id"]).bc_product_id
    product = bc_product(stack, STORE, bc_id)
    assert product["inventory_tracking"] == "variant" and product["weight"] == 0.2
    made = bc_variants(stack, bc_id)
    assert made["TEE-S-Red"]["price"] is None and made["TEE-S-Red"]["calculated_price"] == 10
    assert made["TEE-M-Red"]["price"] == 22 and made["TEE-M-Red"]["weight"] == 0.3
    assert made["TEE-M-Red"]["upc"] == "012345678905"
    labels = [(v["option_display_name"], v["label"]) for v in made["TEE-M-Red"]["option_values"]]
    assert labels == [("Size", "M"), ("Colour", "Red")]
    bound = rows(shop.id, tee["id"])
    assert {sku: row.bc_variant_id for sku, row in bound.items()} == {
        sku: v["id"] for sku, v in made.items()
    }
    assert bound["TEE-M-Red"].label == "Size: M, Colour: Red (SKU TEE-M-Red)"

    stack.bc.reset_requests()
    assert push(shop.id, [tee["id"]])["unchanged"] == 1
    assert total(endpoints(stack, STORE)) == 0  # unchanged: 0 requests


def test_a_variant_edit_is_one_batch_variant_update_and_no_product_write(stack, shop):
    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    small = tee["variants"][0]["id"]
    stack.bindo.update_variant(shop.bindo_store_id, tee["id"], small, price="9.5")
    stack.bc.reset_requests()

    counts = push(shop.id, [tee["id"]])

    assert counts["variant_updated"] == 1 and counts["updated"] == 0
    assert writes(stack, STORE) == {"PUT /v3/catalog/variants": 1}
    bc_id = binding(shop.id, tee["id"]).bc_product_id
    assert bc_variants(stack, bc_id)["TEE-S-Red"]["price"] == 9.5
    # Bindo owns the variant's fields: an edit in BigCommerce is overwritten on the next write.
    bc_variants(stack, bc_id)["TEE-M-Red"]["price"] = 99
    stack.bindo.update_variant(
        shop.bindo_store_id, tee["id"], tee["variants"][1]["id"], upc="012345678905"
    )
    push(shop.id, [tee["id"]])
    assert bc_variants(stack, bc_id)["TEE-M-Red"]["price"] == 22


def test_a_removed_variant_becomes_unpurchasable_never_deleted(stack, shop):
    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    stack.bindo.delete_variant(shop.bindo_store_id, tee["id"], tee["variants"][2]["id"])

    counts = push(shop.id, [tee["id"]])

    assert counts["variant_removed"] == 1
    bc_id = binding(shop.id, tee["id"]).bc_product_id
    blue = bc_variants(stack, bc_id)["TEE-S-Blue"]
    assert blue["purchasing_disabled"] is True
    assert not any(k.startswith("DELETE") for k in endpoints(stack, STORE))
    stack.bc.reset_requests()
    assert push(shop.id, [tee["id"]])["unchanged"] == 1
    assert total(writes(stack, STORE)) == 0


def test_a_new_variant_is_added_with_its_new_option_value(stack, shop):
    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    stack.bindo.add_variant(shop.bindo_store_id, tee["id"], **variant("L", price="25"))
    stack.bc.reset_requests()

    counts = push(shop.id, [tee["id"]])

    assert counts["variant_created"] == 1
    assert writes(stack, STORE) == {
        "POST /v3/catalog/products/{id}/options/{option_id}/values": 1,
        "PUT /v3/catalog/variants": 1,
    }
    bc_id = binding(shop.id, tee["id"]).bc_product_id
    large = bc_variants(stack, bc_id)["TEE-L-Red"]
    assert large["price"] == 25
    assert rows(shop.id, tee["id"])["TEE-L-Red"].bc_variant_id == large["id"]


def test_product_rules_hold_per_product(stack, shop):
    hidden_from_start = new_tee(stack, shop, in_store_only=True)
    assert push(shop.id, [hidden_from_start["id"]])["skipped"] == 1
    assert total(endpoints(stack, STORE)) == 0

    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    bc_id = binding(shop.id, tee["id"]).bc_product_id
    stack.bindo.set_in_store_only(shop.bindo_store_id, tee["id"], True)
    stack.bc.reset_requests()
    assert push(shop.id, [tee["id"]])["hidden"] == 1
    assert writes(stack, STORE) == {"PUT /v3/catalog/products": 1}
    assert bc_product(stack, STORE, bc_id)["is_visible"] is False
    assert len(bc_variants(stack, bc_id)) == 3  # hidden with its variants, nothing deleted


def test_a_bad_variant_weight_fails_the_product_and_names_the_variant(stack, shop):
    tee = new_tee(stack, shop, variant("S"), variant("M", custom_attributes=weight("2 stone")))

    counts = push(shop.id, [tee["id"]])

    assert counts["failed"] == 1
    row = binding(shop.id, tee["id"])
    assert row.sync_state == SyncState.FAILED.value and row.error_code == "weight_unparsable"
    assert "Variant Size: M, Colour: Red (SKU TEE-M-Red): Weight '2 stone'" in row.error_message
    assert total(writes(stack, STORE)) == 0


def test_first_link_matches_variant_by_variant_and_adds_the_missing_one(stack, shop):
    from worker.context import bc_client

    existing = bc_client(shop).create_product(
        {
            "name": "Their tee", "type": "physical", "price": 5, "weight": 1,
            "variants": [
                {"sku": "tee-s-red", "option_values": [
                    {"option_display_name": "Size", "label": "S"},
                    {"option_display_name": "Colour", "label": "Red"}]},
                {"sku": "TEE-M-Red", "option_values": [
                    {"option_display_name": "Size", "label": "M"},
                    {"option_display_name": "Colour", "label": "Red"}]},
            ],
        }
    )  # fmt: skip
    tee = new_tee(stack, shop)
    stack.bc.reset_requests()

    counts = push(shop.id, [tee["id"]])

    assert counts["linked"] == 1 and counts["created"] == 0
    assert binding(shop.id, tee["id"]).bc_product_id == existing["id"]
    assert len(stack.bc.stores[STORE].products) == 1  # not duplicated
    made = bc_variants(stack, existing["id"])
    # Linked case-blind; Bindo owns the SKU, so its spelling is written.
    assert set(made) == {"TEE-S-Red", "TEE-M-Red", "TEE-S-Blue"}
    assert made["TEE-M-Red"]["price"] == 22  # Bindo's fields written on the linked variant
    assert {r.bc_variant_id for r in rows(shop.id, tee["id"]).values()} == {
        v["id"] for v in made.values()
    }


def test_a_variant_clash_is_a_product_error_naming_the_variant(stack, shop):
    from worker.context import bc_client

    client = bc_client(shop)
    for name, sku in (("One", "TEE-S-Red"), ("Two", "TEE-M-Red")):
        client.create_product(
            {
                "name": name, "type": "physical", "price": 5, "weight": 1,
                "variants": [{"sku": sku, "option_values": [
                    {"option_display_name": "Size", "label": "S"}]}],
            }
        )  # fmt: skip
    tee = new_tee(stack, shop)

    counts = push(shop.id, [tee["id"]])

    assert counts["failed"] == 1
    row = binding(shop.id, tee["id"])
    assert row.error_code == "variant_clash" and row.bc_product_id is None
    assert "Size: M, Colour: Red (SKU TEE-M-Red)" in row.error_message
    assert len(stack.bc.stores[STORE].products) == 2


def test_run_items_and_counts_name_the_variants(stack, shop):
    from worker.jobs.catalog import full_sync

    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    stack.bindo.update_variant(shop.bindo_store_id, tee["id"], tee["variants"][0]["id"], price="1")
    run = SyncRun(merchant_id=shop.id, kind="full")
    db.session.add(run)
    db.session.commit()

    counts = full_sync(run.id)

    assert counts["variant_updated"] == 1
    items = db.session.scalars(select(SyncRunItem).where(SyncRunItem.run_id == run.id)).all()
    assert [(i.action, i.message) for i in items] == [
        ("variant_updated", "Size: S, Colour: Red (SKU TEE-S-Red)")
    ]


def test_dry_run_shows_variants_to_create_link_and_update(stack, shop):
    from worker.jobs.catalog import dry_run

    tee = new_tee(stack, shop)
    push(shop.id, [tee["id"]])
    stack.bindo.update_variant(shop.bindo_store_id, tee["id"], tee["variants"][0]["id"], price="1")
    fresh = new_tee(stack, shop, variant("S", sku="NEW-S"), variant("M", sku="NEW-M"))
    run = SyncRun(merchant_id=shop.id, kind="dry_run")
    db.session.add(run)
    db.session.commit()
    stack.bc.reset_requests()

    counts = dry_run(run.id)

    assert total(writes(stack, STORE)) == 0
    assert counts["to_create"] == 1 and counts["to_update"] == 1
    items = {
        i.bindo_product_id: i.message
        for i in db.session.scalars(select(SyncRunItem).where(SyncRunItem.run_id == run.id))
    }
    assert "2 variants: 2 to create" in items[fresh["id"]]
    assert "3 variants: 1 to update" in items[tee["id"]]
    assert "Size: S, Colour: Red (SKU TEE-S-Red) (updated)" in items[tee["id"]]
    assert db.session.query(ProductBinding).count() == 1


def test_full_sync_budget_one_create_each_then_full_variant_batches_then_nothing(stack, shop):
    from worker.jobs.catalog import full_sync

    def run() -> dict[str, int]:
        sync_run = SyncRun(merchant_id=shop.id, kind="full")
        db.session.add(sync_run)
        db.session.commit()
        return full_sync(sync_run.id)

    tees = [new_tee(stack, shop, variant("S", sku=f"T{i}-S"), variant("M", sku=f"T{i}-M"),
                    image_count=0) for i in range(55)]  # fmt: skip
    stack.bc.reset_requests()
    assert run()["created"] == 55
    assert writes(stack, STORE) == {
        "POST /v3/catalog/products": 55,
        "PUT /v3/catalog/products/channel-assignments": 2,
    }
    # A fifth of the 110 variants repriced, spread over products of both 50-product chunks.
    changed = [(t["id"], v["id"]) for t in tees for v in t["variants"]][::5]
    for product_id, variant_id in changed:
        stack.bindo.update_variant(shop.bindo_store_id, product_id, variant_id, price="7")
    stack.bc.reset_requests()
    counts = run()
    assert counts["variant_updated"] == 22 and counts["updated"] == 0
    # One batch of 22: the first chunk's 20 waited for the second chunk's 2.
    assert writes(stack, STORE) == {"PUT /v3/catalog/variants": 1}
    stack.bc.reset_requests()
    assert run()["unchanged"] == 55
    assert total(writes(stack, STORE)) == 0


def test_a_product_that_gains_variants_gets_its_options_and_variants(stack, shop):
    plain = new_product(stack, shop, name="Cap", sku="CAP")
    push(shop.id, [plain["id"]])
    bc_id = binding(shop.id, plain["id"]).bc_product_id
    store_id = shop.bindo_store_id
    stack.bindo.set_options(store_id, plain["id"], [{"name": "Size", "values": ["S", "M"]}])
    for size in ("S", "M"):
        stack.bindo.add_variant(
            store_id, plain["id"], option_values=[{"option": "Size", "value": size}],
            sku=f"CAP-{size}",
        )  # fmt: skip
    stack.bc.reset_requests()

    counts = push(shop.id, [plain["id"]])

    assert counts["updated"] == 1 and counts["variant_created"] == 2
    assert writes(stack, STORE) == {
        "PUT /v3/catalog/products": 1,  # inventory_tracking becomes "variant"
        "POST /v3/catalog/products/{id}/options": 1,
        "PUT /v3/catalog/variants": 1,
    }
    assert bc_product(stack, STORE, bc_id)["inventory_tracking"] == "variant"
    assert set(bc_variants(stack, bc_id)) == {"CAP-S", "CAP-M"}
    assert len(rows(shop.id, plain["id"])) == 2
