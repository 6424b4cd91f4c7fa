"""Request budget of the catalog sync, read from the BigCommerce simulator's request log."""

from __future__ import annotations

from tests.catalog.helpers import (
    bc_images,
    bc_product,
    binding,
    endpoints,
    make_category,
    new_product,
    push,
    total,
    writes,
)


def test_create_with_images_and_known_category_costs_one_request(stack):
    merchant = stack.linked_merchant("budget1")
    shoes = make_category(merchant, "Shoes")
    stack.bc.reset_requests()
    product = new_product(stack, merchant, image_count=2, sku="ABC-1")

    counts = push(merchant.id, [product["id"]])

    assert counts["created"] == 1
    assert writes(stack, "budget1") == {"POST /v3/catalog/products": 1}
    # The run's one-time reads: the tree, its categories (first run only) and the SKU lookup.
    reads = {k: v for k, v in endpoints(stack, "budget1").items() if k.startswith("GET")}
    assert reads == {
        "GET /v3/catalog/trees": 1,
        "GET /v3/catalog/trees/categories": 1,
        "GET /v3/catalog/products": 1,
    }
    bound = binding(merchant.id, product["id"])
    created = bc_product(stack, "budget1", bound.bc_product_id)
    assert created["categories"] == [shoes]
    assert len(bc_images(stack, "budget1", bound.bc_product_id)) == 2

    # Next product in the same category: the category comes from the cache (0 reads).
    stack.bc.reset_requests()
    second = new_product(stack, merchant, sku="ABC-2")
    push(merchant.id, [second["id"]])
    assert endpoints(stack, "budget1") == {
        "GET /v3/catalog/products": 1,
        "POST /v3/catalog/products": 1,
    }


def test_unchanged_product_costs_no_request(stack):
    merchant = stack.linked_merchant("budget2")
    make_category(merchant, "Shoes")
    product = new_product(stack, merchant, sku="U-1")
    push(merchant.id, [product["id"]])
    stack.bc.reset_requests()

    counts = push(merchant.id, [product["id"]])

    assert counts["unchanged"] == 1
    assert total(endpoints(stack, "budget2")) == 0


def test_25_changed_products_cost_3_batched_puts(stack):
    merchant = stack.linked_merchant("budget3")
    make_category(merchant, "Shoes")
    ids = [new_product(stack, merchant, sku=f"B-{i}", image_count=1)["id"] for i in range(25)]
    push(merchant.id, ids)
    for pid in ids:
        stack.bindo.update_product(merchant.bindo_store_id, pid, price="99.00")
    stack.bc.reset_requests()

    counts = push(merchant.id, ids)

    assert counts["updated"] == 25
    # Images did not change: not one image request.
    assert endpoints(stack, "budget3") == {"PUT /v3/catalog/products": 3}
    assert all(p["price"] == 99.0 for p in stack.bc.stores["budget3"].products.values())
