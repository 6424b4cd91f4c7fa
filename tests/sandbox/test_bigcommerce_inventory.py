"""Inventory v3: absolute adjustments, limits, reads, locations and delayed application."""

from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import product_body


@pytest.fixture
def product_id(bc_store) -> int:
    body = product_body(inventory_tracking="product", inventory_level=1)
    return bc_store.post("/v3/catalog/products", body).json()["data"]["id"]


def adjust(bc_store, items):
    return bc_store.put("/v3/inventory/adjustments/absolute", {"reason": "pos", "items": items})


def test_absolute_adjustment_sets_level_and_returns_transaction(bc_store, product_id):
    response = adjust(bc_store, [{"location_id": 1, "product_id": product_id, "quantity": 42}])
    assert response.status_code == 200
    assert set(response.json()) == {"transaction_id"}
    product = bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]
    assert product["inventory_level"] == 42
    items = bc_store.get("/v3/inventory/items", params={"product_id:in": product_id}).json()
    [item] = items["data"]
    assert item["identity"]["product_id"] == product_id
    assert item["locations"][0]["total_inventory_onhand"] == 42


def test_adjustment_by_sku(bc_store, product_id):
    adjust(bc_store, [{"location_id": 1, "sku": "mug-1", "quantity": 3}])
    assert bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["inventory_level"] == 3


@pytest.mark.parametrize(
    "item",
    [
        {"location_id": 99, "product_id": "PID", "quantity": 1},
        {"location_id": 1, "product_id": "PID", "quantity": -1},
        {"location_id": 1, "product_id": "PID", "quantity": 2_147_483_648},
        {"location_id": 1, "product_id": 999999, "quantity": 1},
        {"location_id": 1, "quantity": 1},
    ],
)
def test_invalid_items_reject_whole_adjustment_with_422(bc_store, product_id, item):
    item = {k: product_id if v == "PID" else v for k, v in item.items()}
    good = {"location_id": 1, "product_id": product_id, "quantity": 9}
    response = adjust(bc_store, [good, item])
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["inventory_level"] == 1


def test_variant_id_of_product_tracked_item_is_refused(bc_store, product_id):
    variant = bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["base_variant_id"]
    response = adjust(bc_store, [{"location_id": 1, "variant_id": variant, "quantity": 1}])
    assert response.status_code == 422
    assert "tracked by product" in str(response.json()["errors"])


def test_more_than_2000_items_is_422(bc_store, product_id):
    items = [{"location_id": 1, "product_id": product_id, "quantity": 1}] * 2001
    assert adjust(bc_store, items).status_code == 422


def test_default_location_is_listed(bc_store):
    [location] = bc_store.get("/v3/inventory/locations").json()["data"]
    assert (location["id"], location["enabled"]) == (1, True)


ADDRESS = {
    "address1": "5th Ave",
    "city": "New York",
    "state": "NY",
    "zip": "10021",
    "email": "shop@example.com",
    "geo_coordinates": {"latitude": 40.77, "longitude": -73.96},
    "country_code": "US",
}


def test_locations_are_created_as_the_real_api_does(bc_store, product_id):
    answer = bc_store.post(
        "/v3/inventory/locations",
        [
            {"code": "MALL", "label": "Mall", "address": ADDRESS},
            {"code": "WEB", "label": "Web warehouse", "type_id": "VIRTUAL", "enabled": False},
        ],
    )
    # 200 with a transaction id only: the new ids are learnt by listing again.
    assert answer.status_code == 200
    assert set(answer.json()) == {"transaction_id"}
    listed = bc_store.get("/v3/inventory/locations").json()["data"]
    assert [(loc["id"], loc["code"], loc["enabled"]) for loc in listed] == [
        (1, "BC-LOCATION-1", True),
        (2, "MALL", True),
        (3, "WEB", False),
    ]
    # A new location takes stock at once.
    assert adjust(bc_store, [{"location_id": 2, "product_id": product_id, "quantity": 4}]).ok


@pytest.mark.parametrize(
    "body",
    [
        {"code": "X", "label": "X", "address": ADDRESS},  # an object, not an array
        [],
        [{"label": "No code", "address": ADDRESS}],
        [{"code": "BC-LOCATION-1", "label": "Taken code", "address": ADDRESS}],
        [{"code": "P", "label": "Physical without an address"}],
        [{"code": "A", "label": "A", "type_id": "VIRTUAL"}, {"code": "a", "label": "Same code"}],
    ],
)
def test_an_invalid_location_batch_is_422_and_creates_nothing(bc_store, body):
    answer = bc_store.post("/v3/inventory/locations", body)
    assert answer.status_code == 422
    assert len(bc_store.get("/v3/inventory/locations").json()["data"]) == 1


def test_delayed_application_is_eventually_consistent(bc_sim, bc_store, product_id):
    bc_sim.config.inventory_apply_delay = 0.2
    adjust(bc_store, [{"location_id": 1, "product_id": product_id, "quantity": 7}])
    read = bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["inventory_level"]
    assert read == 1
    time.sleep(0.35)
    read = bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["inventory_level"]
    assert read == 7
