"""What the support desk needs from a failed product: its SKU kept when mapping fails (so a
SKU search finds it), and a repeated final error that is not counted as a new attempt."""

from __future__ import annotations

from tests.catalog.helpers import binding, new_product, push, weight


def test_a_product_that_fails_mapping_keeps_its_bindo_sku(stack):
    shop = stack.linked_merchant("desk1")
    bad = new_product(stack, shop, sku="STONE-77", custom_attributes=weight("2 stone"))
    push(shop.id, [bad["id"]])
    failed = binding(shop.id, bad["id"])
    assert failed.sync_state == "failed" and failed.sku == "STONE-77"


def test_the_same_final_error_again_is_not_a_new_attempt_but_a_new_value_is(stack):
    from worker.jobs.catalog import retry_products

    shop = stack.linked_merchant("desk2")
    bad = new_product(stack, shop, custom_attributes=weight("heavy"))
    push(shop.id, [bad["id"]])
    first = binding(shop.id, bad["id"])
    assert first.attempts == 1
    retry_products(shop.id, [first.id])  # nothing changed in Bindo
    push(shop.id, [bad["id"]])  # e.g. the full sync after a settings save or a resume
    assert binding(shop.id, bad["id"]).attempts == 1
    stack.bindo.update_product(shop.bindo_store_id, bad["id"], custom_attributes=weight("2 st"))
    retry_products(shop.id, [first.id])
    again = binding(shop.id, bad["id"])
    assert again.error_value == "2 st" and again.attempts == 2
