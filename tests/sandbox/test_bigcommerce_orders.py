"""Orders v2: creation like a checkout, stock moves, status changes, refunds, list filters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from tests.sandbox.conftest import product_body


@pytest.fixture
def tracked(bc_store) -> int:
    body = product_body(inventory_tracking="product", inventory_level=5, price=10)
    pid = bc_store.post("/v3/catalog/products", body).json()["data"]["id"]
    # Multi-storefront: an API-created product is sellable once assigned to the channel.
    bc_store.put("/v3/catalog/products/channel-assignments", [{"product_id": pid, "channel_id": 1}])
    return pid


def checkout(bc_sim, lines, **extra):
    return requests.post(
        f"{bc_sim.url}/_sim/stores/abc123/checkout",
        json={"email": "ann@example.com", "first_name": "Ann", "products": lines, **extra},
        timeout=5,
    )


def level(bc_store, product_id: int) -> int:
    return bc_store.get(f"/v3/catalog/products/{product_id}").json()["data"]["inventory_level"]


def test_checkout_builds_awaiting_fulfillment_order_and_lowers_stock(bc_sim, bc_store, tracked):
    response = checkout(bc_sim, [{"product_id": tracked, "quantity": 2}])
    assert response.status_code == 201
    order = bc_store.get(f"/v2/orders/{response.json()['id']}").json()
    assert (order["status_id"], order["status"]) == (11, "Awaiting Fulfillment")
    # 20.00 of goods - 2.00 coupon + 5.00 shipping + 8.25% tax on 18.00 and on 5.00
    assert (order["subtotal_ex_tax"], order["coupon_discount"]) == ("20.0000", "2.0000")
    assert (order["shipping_cost_ex_tax"], order["total_tax"]) == ("5.0000", "1.9000")
    assert order["total_inc_tax"] == "24.9000"
    assert order["billing_address"]["email"] == "ann@example.com"
    assert order["shipping_addresses"]["resource"].endswith("/shippingaddresses")
    assert level(bc_store, tracked) == 3
    [line] = bc_store.get(f"/v2/orders/{order['id']}/products").json()
    assert (line["product_id"], line["quantity"], line["price_ex_tax"]) == (tracked, 2, "10.0000")
    assert line["price_inc_tax"] == "10.8300"
    for path in ("shipping_addresses", "shippingaddresses"):
        [address] = bc_store.get(f"/v2/orders/{order['id']}/{path}").json()
        assert address["email"] == "ann@example.com"


def test_api_order_defaults_to_pending_and_accepts_custom_lines(bc_store):
    response = bc_store.post(
        "/v2/orders",
        {
            "billing_address": {"email": "b@example.com", "zip": "1"},
            "products": [
                {"name": "Engraving", "quantity": 1, "price_inc_tax": 3.5, "price_ex_tax": 3.5,
                 "sku": "ENG"}
            ],
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["status_id"] == 1
    [line] = bc_store.get(f"/v2/orders/{response.json()['id']}/products").json()
    assert (line["sku"], line["total_inc_tax"]) == ("ENG", "3.5000")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"products": [{"product_id": 1, "quantity": 1}]}, 400),
        ({"billing_address": {"email": "x@example.com"}, "products": []}, 400),
        ({"billing_address": {"email": "x@example.com"}, "products": [{"quantity": 1}]}, 400),
    ],
)
def test_malformed_orders_give_v2_error_array(bc_store, body, status):
    response = bc_store.post("/v2/orders", body)
    assert response.status_code == status
    assert response.json()[0]["status"] == status


def test_insufficient_tracked_stock_refuses_order_and_keeps_stock(bc_sim, bc_store, tracked):
    response = checkout(bc_sim, [{"product_id": tracked, "quantity": 6}])
    assert response.status_code == 422
    assert response.json()[0]["status"] == 422
    assert level(bc_store, tracked) == 5
    assert bc_store.get("/v2/orders").json() == []


@pytest.mark.parametrize(("status_id", "restocked"), [(5, 5), (4, 5), (2, 3)])
def test_cancel_and_refund_statuses_restock(bc_sim, bc_store, tracked, status_id, restocked):
    order_id = checkout(bc_sim, [{"product_id": tracked, "quantity": 2}]).json()["id"]
    updated = bc_store.put(f"/v2/orders/{order_id}", {"status_id": status_id})
    assert updated.json()["status_id"] == status_id
    assert level(bc_store, tracked) == restocked


def test_refund_helper_partial_then_full(bc_sim, bc_store, tracked):
    no_extras = {"tax_rate": "0", "coupon": None, "shipping_cost_ex_tax": "0"}
    order_id = checkout(bc_sim, [{"product_id": tracked, "quantity": 2}], **no_extras).json()["id"]
    [line] = bc_store.get(f"/v2/orders/{order_id}/products").json()
    refund_url = f"{bc_sim.url}/_sim/stores/abc123/orders/{order_id}/refund"
    items = [{"order_product_id": line["id"], "quantity": 1}]
    requests.post(refund_url, json={"items": items}, timeout=5)
    order = bc_store.get(f"/v2/orders/{order_id}").json()
    assert (order["status_id"], order["refunded_amount"]) == (14, "10.0000")
    [line] = bc_store.get(f"/v2/orders/{order_id}/products").json()
    assert (line["quantity_refunded"], line["refund_amount"]) == (1, "10.0000")
    assert level(bc_store, tracked) == 4
    requests.post(refund_url, json={"items": items}, timeout=5)
    assert bc_store.get(f"/v2/orders/{order_id}").json()["status_id"] == 4
    assert level(bc_store, tracked) == 5
    too_much = requests.post(refund_url, json={"items": items}, timeout=5)
    assert too_much.status_code == 422


def test_list_filters_sort_and_paging(bc_sim, bc_store, tracked):
    ids = [
        checkout(bc_sim, [{"product_id": tracked, "quantity": 1}]).json()["id"] for _ in range(3)
    ]
    bc_store.put(f"/v2/orders/{ids[0]}", {"status_id": 2})

    def listed(**params):
        return [o["id"] for o in bc_store.get("/v2/orders", params=params).json()]

    assert listed() == ids
    assert listed(status_id=2) == [ids[0]]
    assert listed(sort="id:desc") == ids[::-1]
    assert listed(limit=2, page=2) == [ids[2]]
    past = datetime.now(UTC) - timedelta(hours=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert listed(min_date_modified=format_datetime(past)) == ids
    assert listed(min_date_modified=future.isoformat()) == []
    assert bc_store.get("/v2/orders", params={"min_date_modified": "yesterday"}).status_code == 400


def test_status_change_bumps_date_modified(bc_sim, bc_store, tracked):
    order_id = checkout(bc_sim, [{"product_id": tracked, "quantity": 1}]).json()["id"]
    before = bc_store.get(f"/v2/orders/{order_id}").json()["date_modified"]
    time.sleep(1.05)  # v2 dates have whole-second precision
    after = bc_store.put(f"/v2/orders/{order_id}", {"status_id": 10}).json()["date_modified"]
    assert after != before


def test_unknown_order_is_404_v2_shape(bc_store):
    response = bc_store.get("/v2/orders/999999")
    assert response.status_code == 404
    assert response.json()[0]["status"] == 404


def test_store_information_reports_store_weight_units(bc_store):
    info = bc_store.get("/v2/store").json()
    assert (info["id"], info["weight_units"], info["dimension_units"]) == (
        "abc123",
        "KGS",
        "Centimeters",
    )
    assert isinstance(bc_store.get("/v2/time").json()["time"], int)
