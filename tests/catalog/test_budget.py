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
    # Plus one channel assignment per batch of created products: on a multi-storefront store
    # a product on no channel is not sellable (issue 15 item 8). 2 requests for a lone
    # product; 1.02 per product in a full sync's batches of 50.
    assert writes(stack, "budget1") == {
        "POST /v3/catalog/products": 1,
        "PUT /v3/catalog/products/channel-assignments": 1,
    }
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
        "PUT /v3/catalog/products/channel-assignments": 1,
    }


def test_a_store_with_one_storefront_gets_no_channel_assignment(stack):
    # Without Multi-Storefront (GET /v2/store features.multi_storefront_enabled false, read at
    # install), an API-created product is on the one storefront: 1 request per product.
    import requests

    merchant = stack.linked_merchant("budget11", multi_storefront=False)
    assert merchant.bc_multi_storefront is False
    make_category(merchant, "Shoes")
    ids = [new_product(stack, merchant, sku=f"ONE-{i}")["id"] for i in range(3)]
    stack.bc.reset_requests()

    assert push(merchant.id, ids)["created"] == 3

    assert writes(stack, "budget11") == {"POST /v3/catalog/products": 3}
    store = stack.bc.stores["budget11"]
    for pid in ids:
        bc_id = binding(merchant.id, pid).bc_product_id
        store.products[bc_id]["inventory_tracking"] = "none"  # its stock push is not run here
        sold = requests.post(
            f"{stack.bc_url}/_sim/stores/budget11/checkout",
            json={"products": [{"product_id": bc_id, "quantity": 1}]},
            timeout=5,
        )
        assert sold.status_code == 201
    # Extra channels chosen by staff are still assigned on such a store.
    merchant.bc_channel_ids = [1, 2]
    db.session.commit()
    extra = new_product(stack, merchant, sku="ONE-X")
    stack.bc.reset_requests()
    push(merchant.id, [extra["id"]])
    assert writes(stack, "budget11")["PUT /v3/catalog/products/channel-assignments"] == 1


def test_a_merchant_whose_storefront_kind_is_unknown_reads_it_once(stack):
    merchant = stack.linked_merchant("budget12", multi_storefront=False)
    merchant.bc_multi_storefront = None  # linked before the column existed
    db.session.commit()
    make_category(merchant, "Shoes")
    first, second = (new_product(stack, merchant, sku=f"UNK-{i}")["id"] for i in range(2))
    stack.bc.reset_requests()

    push(merchant.id, [first])
    assert endpoints(stack, "budget12")["GET /v2/store"] == 1
    assert "PUT /v3/catalog/products/channel-assignments" not in endpoints(stack, "budget12")
    db.session.refresh(merchant)
    assert merchant.bc_multi_storefront is False
    stack.bc.reset_requests()
    push(merchant.id, [second])
    assert "GET /v2/store" not in endpoints(stack, "budget12")


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


def test_created_products_are_assigned_to_the_merchants_channels_in_one_request(stack):
    # Issue 15 item 8: the simulator is a multi-storefront store (channels 1 and 2) where a
    # product created through the API is on no channel, so not sellable, until assigned.
    import requests

    merchant = stack.linked_merchant("budget9", bc_channel_ids=[1, 2])
    make_category(merchant, "Shoes")
    ids = [new_product(stack, merchant, sku=f"CH-{i}")["id"] for i in range(3)]
    stack.bc.reset_requests()
    assert push(merchant.id, ids)["created"] == 3
    assert writes(stack, "budget9")["PUT /v3/catalog/products/channel-assignments"] == 1
    store = stack.bc.stores["budget9"]
    for pid in ids:
        bc_id = binding(merchant.id, pid).bc_product_id
        assert store.channel_assignments[bc_id] == {1, 2}
        store.products[bc_id]["inventory_tracking"] = "none"  # its stock push is not run here
        for channel in (1, 2):
            sold = requests.post(
                f"{stack.bc_url}/_sim/stores/budget9/checkout",
                json={"products": [{"product_id": bc_id, "quantity": 1}], "channel_id": channel},
                timeout=5,
            )
            assert sold.status_code == 201


def test_an_unassigned_product_is_not_sellable_and_a_refused_assignment_is_retried(stack):
    import requests

    from worker.sync.catalog.engine import CHANNEL_ERROR

    merchant = stack.linked_merchant("budget10", bc_channel_ids=[7])  # no such channel
    make_category(merchant, "Shoes")
    product = new_product(stack, merchant, sku="CH-X")
    assert push(merchant.id, [product["id"]])["created"] == 1
    bound = binding(merchant.id, product["id"])
    assert bound.error_code == CHANNEL_ERROR and bound.sync_state == "failed"
    stack.bc.stores["budget10"].products[bound.bc_product_id]["inventory_tracking"] = "none"
    refused = requests.post(
        f"{stack.bc_url}/_sim/stores/budget10/checkout",
        json={"products": [{"product_id": bound.bc_product_id, "quantity": 1}]},
        timeout=5,
    )
    assert refused.status_code == 400 and "not available on channel 1" in refused.text
    merchant.bc_channel_ids = [1]
    db.session.commit()
    from worker.sync.catalog.engine import CatalogSync

    CatalogSync(merchant).sync_ids([product["id"]], force=[product["id"]])  # a staff retry
    bound = binding(merchant.id, product["id"])
    assert bound.error_code is None
    assert stack.bc.stores["budget10"].channel_assignments[bound.bc_product_id] == {1}
