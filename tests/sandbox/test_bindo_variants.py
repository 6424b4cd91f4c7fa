"""The Bindo simulator's products with options and variants (docs/bindo-api.md), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.bindo import BindoSimConfig, SimState, create_app
from sandbox.server import RunningServer, Swappable, serve_in_thread
from tests.sandbox.test_bindo_sim import SECRET, STORE, TOKEN, FakeClock, Sim


@pytest.fixture(scope="module")
def bindo_server() -> Iterator[tuple[Swappable, RunningServer]]:
    holder = Swappable()
    server = serve_in_thread(holder)
    yield holder, server
    server.shutdown()


@pytest.fixture
def bindo(bindo_server: tuple[Swappable, RunningServer]) -> Iterator[Sim]:
    holder, server = bindo_server
    clock = FakeClock()
    app = create_app(BindoSimConfig(clock=clock))
    state: SimState = app.extensions["bindosim"]
    state.create_store(
        STORE, TOKEN, SECRET, [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    )
    holder.app = app
    yield Sim(state, server, clock)
    state.shutdown()


TEE = {
    "name": "Tee",
    "price": "20.00",
    "custom_attributes": [{"name": "Weight", "value": "200 g"}],
    "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}],
    "variants": [
        {
            "option_values": [
                {"option": "Size", "value": "S"},
                {"option": "Colour", "value": "Red"},
            ],
            "sku": "TEE-S-RED",
            "stock": {"10": "3", "11": "1"},
        },
        {
            "option_values": [
                {"option": "Colour", "value": "Red"},
                {"option": "Size", "value": "M"},
            ],
            "sku": "TEE-M-RED",
            "upc": "012345678905",
            "price": "22",
            "custom_attributes": [{"name": "Weight", "value": "250 g"}],
        },
    ],
}


def control(bindo: Sim, method: str, path: str, body: Any = None) -> requests.Response:
    url = f"{bindo.server.url}/_sim/stores/{STORE}{path}"
    return requests.request(method, url, json=body, timeout=5)


def make_tee(bindo: Sim) -> dict[str, Any]:
    response = control(bindo, "POST", "/products", TEE)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_product_with_variants_shows_options_and_variants(bindo: Sim) -> None:
    tee = make_tee(bindo)
    data = bindo.get(f"/products/{tee['id']}").json()["data"]
    assert data["options"] == TEE["options"]
    small, medium = data["variants"]
    assert small["sku"] == "TEE-S-RED" and small["price"] is None  # inherits the product's
    assert small["custom_attributes"] == [] and small["deleted"] is False
    # Listed in the product's option order, whatever order they were given in.
    assert [v["option"] for v in medium["option_values"]] == ["Size", "Colour"]
    assert medium["price"] == "22.00" and medium["upc"] == "012345678905"
    assert small["id"] != medium["id"]


def test_products_without_variants_look_as_before(bindo: Sim) -> None:
    plain = control(bindo, "POST", "/products", {"name": "Mug", "price": "5"}).json()["data"]
    data = bindo.get(f"/products/{plain['id']}").json()["data"]
    assert "variants" not in data and "options" not in data
    rows = bindo.get("/stock", product_ids=str(plain["id"])).json()["data"]
    assert all("variant_id" not in row for row in rows)


def test_stock_is_listed_per_variant(bindo: Sim) -> None:
    tee = make_tee(bindo)
    rows = bindo.get("/stock", product_ids=str(tee["id"]), location_id="10").json()["data"]
    by_variant = {row["variant_id"]: row["quantity"] for row in rows}
    small, medium = (v["id"] for v in tee["variants"])
    assert by_variant == {small: "3.0", medium: "0.0"}


def test_variant_changes_fire_product_updated_and_bump_updated_at(bindo: Sim) -> None:
    tee = make_tee(bindo)
    small = tee["variants"][0]["id"]
    before = len(bindo.state.events(STORE, "product.updated"))
    bindo.clock.now = bindo.clock.now.replace(hour=22)
    changed = control(bindo, "PATCH", f"/products/{tee['id']}/variants/{small}", {"price": "19"})
    assert changed.status_code == 200
    assert changed.json()["data"]["updated_at"] == "2026-11-26T22:00:00Z"
    assert len(bindo.state.events(STORE, "product.updated")) == before + 1


def test_a_variant_can_be_added_and_deleted(bindo: Sim) -> None:
    tee = make_tee(bindo)
    options = [{"name": "Size", "values": ["S", "M", "L"]}, {"name": "Colour", "values": ["Red"]}]
    assert control(bindo, "PUT", f"/products/{tee['id']}/options", {"options": options}).ok
    large = {
        "option_values": [{"option": "Size", "value": "L"}, {"option": "Colour", "value": "Red"}],
        "sku": "TEE-L-RED",
        "stock": {"10": "5"},
    }
    added = control(bindo, "POST", f"/products/{tee['id']}/variants", large)
    assert added.status_code == 201, added.text
    new_id = added.json()["data"]["variants"][-1]["id"]
    assert bindo.state.get_stock(STORE, tee["id"], 10, new_id) == 5
    gone = control(bindo, "DELETE", f"/products/{tee['id']}/variants/{new_id}")
    assert gone.json()["data"]["variants"][-1]["deleted"] is True
    rows = bindo.get("/stock", product_ids=str(tee["id"])).json()["data"]
    assert new_id not in {row["variant_id"] for row in rows}


def test_bad_variants_are_refused(bindo: Sim) -> None:
    tee = make_tee(bindo)
    duplicate = {"option_values": TEE["variants"][0]["option_values"], "sku": "X"}
    assert control(bindo, "POST", f"/products/{tee['id']}/variants", duplicate).status_code == 409
    partial = {"option_values": [{"option": "Size", "value": "S"}], "sku": "Y"}
    assert control(bindo, "POST", f"/products/{tee['id']}/variants", partial).status_code == 422
    unknown = {
        "option_values": [{"option": "Size", "value": "XL"}, {"option": "Colour", "value": "Red"}]
    }
    assert control(bindo, "POST", f"/products/{tee['id']}/variants", unknown).status_code == 422


def test_orders_sales_cancels_and_refunds_move_variant_stock(bindo: Sim) -> None:
    tee = make_tee(bindo)
    small = tee["variants"][0]["id"]
    line = {
        "product_id": tee["id"],
        "variant_id": small,
        "name": "Tee S",
        "price": "20",
        "quantity": 2,
    }
    no_variant = {**line, "variant_id": None}
    order = {"external_reference": "r1", "location_id": 10, "line_items": [no_variant]}
    assert bindo.post("/orders", order).status_code == 422  # a product with variants needs one
    order["line_items"] = [line]
    created = bindo.post("/orders", order)
    assert created.status_code == 201, created.text
    body = created.json()["data"]
    assert body["line_items"][0]["variant_id"] == small
    assert bindo.state.get_stock(STORE, tee["id"], 10, small) == 1
    refund = {
        "reference": "x",
        "line_items": [{"line_item_id": body["line_items"][0]["id"], "quantity": 1}],
    }
    bindo.post(f"/orders/{body['id']}/refunds", {**refund, "restock": True})
    assert bindo.state.get_stock(STORE, tee["id"], 10, small) == 2
    bindo.post(f"/orders/{body['id']}/cancel", {"restock": True})
    assert bindo.state.get_stock(STORE, tee["id"], 10, small) == 3
    sale = {
        "location_id": 10,
        "lines": [{"product_id": tee["id"], "variant_id": small, "quantity": 1}],
    }
    rows = control(bindo, "POST", "/sales", sale).json()["data"]
    assert rows == [
        {"product_id": tee["id"], "location_id": 10, "variant_id": small, "quantity": "2.0"}
    ]


def test_inventory_events_name_the_variant(bindo: Sim) -> None:
    tee = make_tee(bindo)
    small = tee["variants"][0]["id"]
    body = {"product_id": tee["id"], "variant_id": small, "location_id": 10, "quantity": "7"}
    assert control(bindo, "PUT", "/stock", body).json()["data"]["quantity"] == "7.0"
    last = bindo.state.events(STORE, "inventory.updated")[-1]["data"]
    assert last == {
        "product_id": tee["id"],
        "variant_id": small,
        "location_id": 10,
        "quantity": "7.0",
    }
    plain_stock = {"product_id": tee["id"], "location_id": 10, "quantity": "1"}
    assert control(bindo, "PUT", "/stock", plain_stock).status_code == 422
