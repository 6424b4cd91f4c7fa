"""The buttons a person uses while watching the demo, on both simulators' pages."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from sandbox.bigcommerce import BCSimConfig
from sandbox.bigcommerce import create_app as bc_create_app
from sandbox.bindo import BindoSimConfig
from sandbox.bindo import create_app as bindo_create_app

STORE = "demo1"


@pytest.fixture
def bc():
    app = bc_create_app(
        BCSimConfig(
            demo_mode=True, time_scale=0.001, client_secret="demo-pages-secret-of-32-bytes-min"
        )
    )
    state = app.extensions["bcsim"]
    store = state.create_store(STORE)
    client = app.test_client()
    headers = {"X-Auth-Token": store.access_token}
    product = client.post(
        f"/stores/{STORE}/v3/catalog/products",
        json={
            "name": "Mug",
            "type": "physical",
            "weight": 1,
            "price": 9.5,
            "sku": "MUG",
            "inventory_tracking": "product",
            "is_visible": True,
        },
        headers=headers,
    ).get_json()["data"]
    client.put(
        f"/stores/{STORE}/v3/inventory/adjustments/absolute",
        json={"items": [{"location_id": 1, "product_id": product["id"], "quantity": 5}]},
        headers=headers,
    )
    yield client, state, product
    state.close()


def test_buy_button_places_an_order_that_lowers_stock(bc):
    client, state, product = bc
    page = client.get(f"/_sim/stores/{STORE}").get_data(as_text=True)
    assert "Buy 1" in page
    answer = client.post(
        f"/_sim/stores/{STORE}/shop",
        data={"product_id": product["id"], "email": "demo@example.com"},
    )
    assert answer.status_code == 303
    (order,) = state.stores[STORE].orders.values()
    assert order["billing_address"]["email"] == "demo@example.com"
    assert state.stores[STORE].products[product["id"]]["inventory_level"] == 4


@pytest.mark.parametrize("action, status_id", [("cancel", 5), ("refund", 4)])
def test_merchant_cancels_or_refunds_from_the_store_page(bc, action, status_id):
    client, state, product = bc
    client.post(f"/_sim/stores/{STORE}/shop", data={"product_id": product["id"]})
    (order_id,) = state.stores[STORE].orders
    client.post(f"/_sim/stores/{STORE}/orders/{order_id}/merchant-action", data={"action": action})
    assert state.stores[STORE].orders[order_id]["status_id"] == status_id
    # Both put the unit back in BigCommerce, as its refund/cancel stock settings do.
    assert state.stores[STORE].products[product["id"]]["inventory_level"] == 5


def test_control_panel_frames_the_app_with_a_fresh_load_jwt(bc):
    client, state, _ = bc
    page = client.get(f"/_sim/stores/{STORE}/control-panel").get_data(as_text=True)
    src = page.split('<iframe src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    url = urlparse(src)
    assert url.path == "/bigcommerce/load"
    token = parse_qs(url.query)["signed_payload_jwt"][0]
    assert token.count(".") == 2


@pytest.fixture
def bindo():
    app = bindo_create_app(BindoSimConfig(time_scale=0.001))
    state = app.extensions["bindosim"]
    state.create_store("shop", "token", "secret", locations=[{"id": 10, "name": "Main"}])
    product = state.create_product(
        "shop",
        name="Stone",
        price="5.00",
        sku="ST",
        kind="custom",
        custom_attributes=[{"name": "Weight", "value": "2 stone"}],
        stock={10: 3},
    )
    yield app.test_client(), state, product
    state.shutdown()


def _press(client, product, **form):
    url = f"/_sim/stores/shop/products/{product['id']}/back-office"
    return client.post(url, data=form)


def test_set_stock_and_sell_in_store_change_bindo_stock(bindo):
    client, state, product = bindo
    assert (
        _press(client, product, action="set_stock", location_id=10, quantity="8").status_code == 303
    )
    _press(client, product, action="sell", location_id=10)
    assert state.get_stock("shop", product["id"], 10) == Decimal(7)
    assert len(state.events("shop", event_type="inventory.updated")) >= 2


def test_fixing_the_weight_keeps_other_attributes_and_fires_an_update(bindo):
    client, state, product = bindo
    state.update_product(
        "shop",
        product["id"],
        custom_attributes=[
            {"name": "Weight", "value": "2 stone"},
            {"name": "Category", "value": "Garden"},
        ],
    )
    before = len(state.events("shop", event_type="product.updated"))
    _press(client, product, action="edit", price="6.00", weight="2 lb")
    updated = state.get_product("shop", product["id"])
    assert updated["price"] == "6.00"
    assert {a["name"]: a["value"] for a in updated["custom_attributes"]} == {
        "Weight": "2 lb",
        "Category": "Garden",
    }
    assert len(state.events("shop", event_type="product.updated")) == before + 1


def test_in_store_only_toggles_and_delete_is_soft(bindo):
    client, state, product = bindo
    _press(client, product, action="toggle_in_store_only")
    assert state.get_product("shop", product["id"])["in_store_only"] is True
    _press(client, product, action="toggle_in_store_only")
    assert state.get_product("shop", product["id"])["in_store_only"] is False
    _press(client, product, action="delete")
    assert state.get_product("shop", product["id"])["deleted"] is True
    assert _press(client, product, action="nonsense").status_code == 400
