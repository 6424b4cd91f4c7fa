"""Request budget of the catalog sync, read from the BigCommerce simulator's request log."""

from __future__ import annotations

from portal.extensions import db
from portal.models import SyncRun
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


def _full_sync(merchant) -> SyncRun:
    from worker.jobs.catalog import full_sync

    run = SyncRun(merchant_id=merchant.id, kind="full")
    db.session.add(run)
    db.session.commit()
    full_sync(run.id)
    db.session.expire_all()
    return db.session.get(SyncRun, run.id)


def test_initial_sync_into_an_empty_store_makes_no_sku_lookups(stack):
    merchant = stack.linked_merchant("budget4")
    make_category(merchant, "Shoes")
    for i in range(120):
        new_product(stack, merchant, sku=f"E-{i}")
    stack.bc.reset_requests()

    run = _full_sync(merchant)

    assert run.counts["created"] == 120
    requests = endpoints(stack, "budget4")
    assert requests["POST /v3/catalog/products"] == 120
    # One probe ("does the store have any product?") replaces 3 look-ups of 50 SKUs.
    assert requests["GET /v3/catalog/products"] == 1


def test_full_sync_fills_every_batch_put_across_chunks(stack):
    """23 changed products spread over 5 chunks of 50 cost 3 PUTs (10, 10, 3), not 5+."""
    merchant = stack.linked_merchant("budget5")
    make_category(merchant, "Shoes")
    ids = [new_product(stack, merchant, sku=f"F-{i}")["id"] for i in range(230)]
    _full_sync(merchant)
    changed = ids[::10]  # every tenth product: 23, a few in each chunk of 50
    for pid in changed:
        stack.bindo.update_product(merchant.bindo_store_id, pid, price="42.00")
    stack.bc.reset_requests()

    run = _full_sync(merchant)

    assert run.counts["updated"] == len(changed) == 23
    assert writes(stack, "budget5") == {"PUT /v3/catalog/products": 3}
    products = stack.bc.stores["budget5"].products.values()
    assert sum(p["price"] == 42.0 for p in products) == 23
