"""Webhooks: hook CRUD, signed deliveries, retries then deactivation, event sources, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests

from tests.sandbox.conftest import product_body


def subscribe(bc_store, portal, scope, **extra):
    body = {"scope": scope, "destination": portal.hook_url, "headers": {"X-Bindo-Hook-Secret": "s"}}
    response = bc_store.post("/v3/hooks", {**body, **extra})
    assert response.status_code == 200
    return response.json()["data"]


def payloads(portal):
    return [json.loads(w["body"]) for w in portal.webhooks]


def test_hook_crud_and_filters(bc_store, bc_portal):
    hook = subscribe(bc_store, bc_portal, "store/order/created")
    assert hook["headers"] == {"X-Bindo-Hook-Secret": "s"} and hook["is_active"] is True
    other = bc_store.post(
        "/v3/hooks", {"scope": "store/product/updated", "destination": "https://x.example/h"}
    ).json()["data"]
    scoped = bc_store.get("/v3/hooks", params={"scope": "store/order/created"}).json()["data"]
    assert [h["id"] for h in scoped] == [hook["id"]]
    bc_store.put(f"/v3/hooks/{other['id']}", {"is_active": False})
    active = bc_store.get("/v3/hooks", params={"is_active": "true"}).json()["data"]
    assert [h["id"] for h in active] == [hook["id"]]
    deleted = bc_store.delete(f"/v3/hooks/{hook['id']}")
    assert (deleted.status_code, deleted.json()["data"]["id"]) == (200, hook["id"])
    missing = bc_store.get(f"/v3/hooks/{hook['id']}")
    assert missing.status_code == 404
    assert missing.json()["title"] == f"Webhook with id [{hook['id']}] not found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"destination": "https://x.example/h"}, "scope"),
        ({"scope": "store/order/created"}, "destination"),
        ({"scope": "store/order/created", "destination": "ftp://x"}, "destination"),
    ],
)
def test_invalid_hook_is_422(bc_store, body, field):
    response = bc_store.post("/v3/hooks", body)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_delivery_payload_headers_and_signature(bc_sim, bc_store, bc_portal):
    subscribe(bc_store, bc_portal, "store/product/created")
    product = bc_store.post("/v3/catalog/products", product_body()).json()["data"]
    assert bc_sim.state.wait_deliveries(5)
    [delivery] = bc_portal.webhooks
    payload = json.loads(delivery["body"])
    data = {"type": "product", "id": product["id"]}
    assert payload["scope"] == "store/product/created"
    assert payload["data"] == data
    assert payload["store_id"] == str(bc_sim.state.stores["abc123"].store_id)
    assert payload["producer"] == "stores/abc123"
    expected_hash = hashlib.sha1(
        json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    ).hexdigest()
    assert payload["hash"] == expected_hash
    headers = delivery["headers"]
    assert headers["X-Bindo-Hook-Secret"] == "s"
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.".encode() + delivery["body"]
    digest = hmac.new(bc_sim.config.client_secret.encode(), signed, hashlib.sha256).digest()
    assert headers["Webhook-Signature"] == "v1," + base64.b64encode(digest).decode()


def test_failed_deliveries_retry_with_same_id_then_succeed(bc_sim, bc_store, bc_portal):
    bc_portal.statuses = [500, 503]
    subscribe(bc_store, bc_portal, "store/product/created")
    bc_store.post("/v3/catalog/products", product_body())
    assert bc_sim.state.wait_deliveries(5)
    attempts = bc_portal.webhooks
    assert [a["status"] for a in attempts] == [500, 503, 200]
    assert len({a["headers"]["Webhook-Id"] for a in attempts}) == 1
    assert len({json.loads(a["body"])["hash"] for a in attempts}) == 1


def test_hook_is_deactivated_after_last_retry(bc_sim, bc_store, bc_portal):
    bc_sim.config.time_scale = 0.000002  # the ~48 h schedule in ~0.35 s
    schedule = bc_sim.config.retry_schedule
    bc_portal.statuses = [500] * (len(schedule) + 1)
    hook = subscribe(bc_store, bc_portal, "store/product/created")
    bc_store.post("/v3/catalog/products", product_body())
    assert bc_sim.state.wait_deliveries(10)
    assert len(bc_portal.webhooks) == len(schedule) + 1
    assert bc_store.get(f"/v3/hooks/{hook['id']}").json()["data"]["is_active"] is False


def test_merchant_edit_fires_product_updated(bc_sim, bc_store, bc_portal):
    pid = bc_store.post("/v3/catalog/products", product_body()).json()["data"]["id"]
    subscribe(bc_store, bc_portal, "store/product/updated")
    edited = requests.put(
        f"{bc_sim.url}/_sim/stores/abc123/products/{pid}", json={"price": 15}, timeout=5
    )
    assert edited.json()["price"] == 15
    bc_store.put(f"/v3/catalog/products/{pid}", {"price": 15})  # no change -> no event
    assert bc_sim.state.wait_deliveries(5)
    assert [p["data"] for p in payloads(bc_portal)] == [{"type": "product", "id": pid}]


def test_inventory_and_order_events(bc_sim, bc_store, bc_portal):
    body = product_body(inventory_tracking="product", inventory_level=3)
    pid = bc_store.post("/v3/catalog/products", body).json()["data"]["id"]
    bc_store.put("/v3/catalog/products/channel-assignments", [{"product_id": pid, "channel_id": 1}])
    subscribe(bc_store, bc_portal, "store/product/inventory/updated")
    subscribe(bc_store, bc_portal, "store/order/*")
    bc_store.put(
        "/v3/inventory/adjustments/absolute",
        {"items": [{"location_id": 1, "product_id": pid, "quantity": 8}]},
    )
    order = requests.post(
        f"{bc_sim.url}/_sim/stores/abc123/checkout",
        json={"products": [{"product_id": pid, "quantity": 1}]},
        timeout=5,
    ).json()
    bc_store.put(f"/v2/orders/{order['id']}", {"status_id": 2})
    assert bc_sim.state.wait_deliveries(5)
    by_scope = {}
    for payload in payloads(bc_portal):
        by_scope.setdefault(payload["scope"], []).append(payload["data"])
    [inventory] = by_scope["store/product/inventory/updated"]
    assert inventory["inventory"]["method"] == "absolute"
    assert by_scope["store/order/created"] == [{"type": "order", "id": order["id"]}]
    statuses = [d["status"] for d in by_scope["store/order/statusUpdated"]]
    assert {"previous_status_id": 11, "new_status_id": 2} in statuses


@pytest.mark.parametrize(("drop_ratio", "duplicates", "expected"), [(1.0, 0, 0), (0.0, 2, 3)])
def test_webhook_fault_switches(bc_sim, bc_store, bc_portal, drop_ratio, duplicates, expected):
    subscribe(bc_store, bc_portal, "store/product/created")
    requests.post(
        f"{bc_sim.url}/_sim/webhooks/faults",
        json={"drop_ratio": drop_ratio, "duplicates": duplicates, "seed": 1},
        timeout=5,
    )
    bc_store.post("/v3/catalog/products", product_body())
    assert bc_sim.state.wait_deliveries(5)
    assert len(bc_portal.webhooks) == expected
    assert len({w["headers"]["Webhook-Id"] for w in bc_portal.webhooks}) == min(expected, 1)


def test_inventory_api_writes_of_tracked_products_fire_product_updated(bc_sim, bc_store, bc_portal):
    # Issue 15 item 7: real BigCommerce fires store/product/updated for a tracked product's
    # inventory level, including the app's own Inventory API writes (echoes).
    tracked = bc_store.post(
        "/v3/catalog/products", product_body(inventory_tracking="product", inventory_level=3)
    ).json()["data"]["id"]
    untracked = bc_store.post(
        "/v3/catalog/products", product_body(name="Plate", sku="plate-1")
    ).json()["data"]["id"]
    subscribe(bc_store, bc_portal, "store/product/updated")
    items = [
        {"location_id": 1, "product_id": tracked, "quantity": 8},
        {"location_id": 1, "product_id": untracked, "quantity": 8},
    ]
    bc_store.put("/v3/inventory/adjustments/absolute", {"items": items})
    bc_store.put("/v3/inventory/adjustments/absolute", {"items": items[:1]})  # same level: none
    assert bc_sim.state.wait_deliveries(5)
    assert [p["data"] for p in payloads(bc_portal)] == [{"type": "product", "id": tracked}]
