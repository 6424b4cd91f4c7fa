"""The Bindo simulator honours docs/bindo-api.md over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from flask import Flask, request

from sandbox.bindo import BindoSimConfig, SimState, create_app, sign
from sandbox.bindo.demo_catalog import build_demo_catalog, upc_a
from sandbox.server import RunningServer, Swappable, serve_in_thread

STORE = "store-1"
TOKEN = "tok-secret-123"
SECRET = "whsec-abc"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 21, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sim:
    state: SimState
    server: RunningServer
    clock: FakeClock

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v1/stores/{STORE}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.api + path, params=params, headers=AUTH, timeout=5)

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.api + path, json=body, headers=AUTH, timeout=5)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[Swappable, RunningServer]]:
    holder = Swappable()
    server = serve_in_thread(holder)
    yield holder, server
    server.shutdown()


@pytest.fixture
def sim(shared_server: tuple[Swappable, RunningServer]) -> Iterator[Sim]:
    holder, server = shared_server
    clock = FakeClock()
    config = BindoSimConfig(time_scale=0.001, retry_schedule=(10, 20, 30), clock=clock)
    app = create_app(config)
    state: SimState = app.extensions["bindosim"]
    locations = [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    state.create_store(STORE, TOKEN, SECRET, locations)
    holder.app = app
    yield Sim(state, server, clock)
    state.shutdown()


@dataclass
class Receiver:
    """A webhook subscriber that records every request and can fail the first few."""

    server: RunningServer | None = None
    fail_first: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server
        return f"{self.server.url}/hook"

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [c["json"] for c in self.calls if event_type in (None, c["json"]["type"])]


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[Swappable, RunningServer]]:
    holder = Swappable()
    server = serve_in_thread(holder)
    yield holder, server
    server.shutdown()


@pytest.fixture
def receiver(receiver_server: tuple[Swappable, RunningServer]) -> Receiver:
    holder, server = receiver_server
    rec = Receiver(server=server)
    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        with rec.lock:
            rec.calls.append(
                {"headers": dict(request.headers), "raw": request.get_data(), "json": request.json}
            )
            failing = len(rec.calls) <= rec.fail_first
        return ("nope", 500) if failing else ("", 204)

    holder.app = app
    return rec


def subscribe(sim: Sim, receiver: Receiver, events: list[str] | None = None) -> None:
    events = events or [
        "product.created",
        "product.updated",
        "product.deleted",
        "inventory.updated",
    ]
    assert sim.post("/webhooks", {"url": receiver.url, "events": events}).status_code == 201


def verify(secret: str, header: str, raw: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


# -- auth and errors -------------------------------------------------------------------


def test_missing_or_wrong_token_is_a_401_json_error(sim: Sim) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        resp = requests.get(sim.api + "/locations", headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "unauthorized"


def test_unknown_product_and_route_answer_json_404(sim: Sim) -> None:
    assert sim.get("/products/999999").json() == {
        "error": {"code": "not_found", "message": "product 999999 not found"}
    }
    assert sim.get("/nothing-here").json()["error"]["code"] == "not_found"


def test_rotated_token_makes_the_old_one_unauthorized(sim: Sim) -> None:
    sim.state.set_token(STORE, "new-token")
    assert sim.get("/locations").status_code == 401


def test_locations_are_listed(sim: Sim) -> None:
    assert sim.get("/locations").json()["data"] == [
        {"id": 10, "name": "Main"},
        {"id": 11, "name": "Mall"},
    ]


# -- products --------------------------------------------------------------------------


def test_products_paginate_with_meta(sim: Sim) -> None:
    for i in range(7):
        sim.state.create_product(STORE, name=f"P{i}", price="1")
    first = sim.get("/products", per_page=3).json()
    last = sim.get("/products", per_page=3, page=3).json()
    assert first["meta"] == {"page": 1, "per_page": 3, "total": 7, "total_pages": 3}
    assert [p["name"] for p in first["data"]] == ["P0", "P1", "P2"]
    assert [p["name"] for p in last["data"]] == ["P6"]
    assert sim.get("/products", per_page=251).status_code == 400


def test_product_has_the_documented_shape(sim: Sim) -> None:
    created = sim.state.create_product(
        STORE,
        name="Trail Runner",
        price="12.5",
        upc="012345678905",
        category="Shoes > Running",
        custom_attributes=[{"name": "Weight", "value": "2 lb"}],
        image_count=2,
    )
    data = sim.get(f"/products/{created['id']}").json()["data"]
    assert data["price"] == "12.50"
    assert data["kind"] == "upc"
    assert data["sku"] is None
    assert [img["position"] for img in data["images"]] == [1, 2]
    assert data["images"][0]["url"] == f"{sim.server.url}/images/{data['images'][0]['id']}.png"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["updated_at"])
    assert set(data) >= {"description", "in_store_only", "deleted", "custom_attributes"}


def test_updated_since_returns_only_products_changed_at_or_after(sim: Sim) -> None:
    old = sim.state.create_product(STORE, name="Old")
    sim.clock.now += timedelta(hours=1)
    new = sim.state.create_product(STORE, name="New")
    sim.clock.now += timedelta(hours=1)
    sim.state.update_product(STORE, old["id"], name="Old edited")
    since = (sim.clock.now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [p["name"] for p in sim.get("/products", updated_since=since).json()["data"]]
    assert names == ["Old edited"]
    at_new = new["updated_at"]
    ids = [p["id"] for p in sim.get("/products", updated_since=at_new).json()["data"]]
    assert ids == [old["id"], new["id"]]  # inclusive bound, ordered by id


def test_deleted_products_hidden_unless_asked_but_fetchable_by_id(sim: Sim) -> None:
    keep = sim.state.create_product(STORE, name="Keep")
    gone = sim.state.create_product(STORE, name="Gone")
    sim.state.delete_product(STORE, gone["id"])
    assert [p["id"] for p in sim.get("/products").json()["data"]] == [keep["id"]]
    listed = sim.get("/products", include_deleted="true", ids=f"{gone['id']}").json()["data"]
    assert [(p["id"], p["deleted"]) for p in listed] == [(gone["id"], True)]
    assert sim.get(f"/products/{gone['id']}").json()["data"]["deleted"] is True


# -- stock -----------------------------------------------------------------------------


def test_stock_is_decimal_strings_per_location(sim: Sim) -> None:
    a = sim.state.create_product(STORE, name="A")
    b = sim.state.create_product(STORE, name="B")
    sim.state.set_stock(STORE, a["id"], 10, "1.5")
    sim.state.set_stock(STORE, b["id"], 10, -2)
    rows = sim.get("/stock", location_id=10).json()["data"]
    assert rows == [
        {"product_id": a["id"], "location_id": 10, "quantity": "1.5"},
        {"product_id": b["id"], "location_id": 10, "quantity": "-2.0"},
    ]
    only_b = sim.get("/stock", product_ids=str(b["id"])).json()["data"]
    assert [(r["location_id"], r["quantity"]) for r in only_b] == [(10, "-2.0"), (11, "0.0")]
    assert sim.get("/stock", location_id=99).status_code == 404


def test_in_store_sale_lowers_stock_and_may_go_negative(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="A", stock={10: 1})
    sim.state.sell_in_store(STORE, 10, [{"product_id": p["id"], "quantity": 3}])
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "-2"


# -- customers -------------------------------------------------------------------------


def test_customers_match_email_case_insensitively(sim: Sim) -> None:
    resp = sim.post(
        "/customers",
        {
            "email": "Ann@Example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "phone": "1",
            "address": {"line1": "1 Main", "city": "Springfield", "country": "US"},
        },
    )
    assert resp.status_code == 201
    created = resp.json()["data"]
    found = sim.get("/customers", email="ann@EXAMPLE.com").json()["data"]
    assert [c["id"] for c in found] == [created["id"]]
    assert sim.get("/customers", email="bob@example.com").json()["data"] == []
    assert sim.get(f"/customers/{created['id']}").json()["data"]["address"]["city"] == "Springfield"
    assert sim.post("/customers", {"email": "ann@example.com"}).status_code == 409
    assert sim.post("/customers", {"email": "not-an-email"}).status_code == 422


# -- orders ----------------------------------------------------------------------------


def order_body(product_id: int | None, ref: str = "bc-abc-1", qty: int = 2) -> dict[str, Any]:
    return {
        "external_reference": ref,
        "location_id": 10,
        "customer_id": None,
        "status": "unfulfilled",
        "payment_status": "paid",
        "currency": "USD",
        "line_items": [
            {
                "product_id": product_id,
                "name": "Shoe",
                "sku": "S-1",
                "price": "12.50",
                "quantity": qty,
                "external_line_id": "1",
            },
            {
                "product_id": None,
                "name": "Gift wrap",
                "sku": None,
                "price": "1.00",
                "quantity": 1,
                "external_line_id": "2",
            },
        ],
        "note": "from the web",
    }


def test_order_creation_lowers_stock_and_replays_by_reference(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    first = sim.post("/orders", order_body(p["id"]))
    again = sim.post("/orders", order_body(p["id"]))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    order = first.json()["data"]
    assert order["total"] == "26.00"
    assert order["line_items"][0]["refunded_quantity"] == 0
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "3"
    by_ref = sim.get("/orders", external_reference="bc-abc-1").json()["data"]
    assert [o["id"] for o in by_ref] == [order["id"]]
    assert sim.get(f"/orders/{order['id']}").json()["data"]["id"] == order["id"]


def test_ten_concurrent_creates_make_one_order_and_one_decrement(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 10})
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def create() -> None:
        barrier.wait()
        statuses.append(sim.post("/orders", order_body(p["id"], ref="bc-abc-race")).status_code)

    threads = [threading.Thread(target=create) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 9 + [201]
    assert len(sim.state.orders(STORE)) == 1
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "8"


def test_order_with_unknown_location_is_rejected(sim: Sim) -> None:
    body = order_body(None) | {"location_id": 99}
    resp = sim.post("/orders", body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_failed"
    assert sim.post("/orders", "not an object").status_code == 400


def test_cancel_restocks_once(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    order = sim.post("/orders", order_body(p["id"], qty=3)).json()["data"]
    first = sim.post(f"/orders/{order['id']}/cancel", {"restock": True})
    second = sim.post(f"/orders/{order['id']}/cancel", {"restock": True})
    assert first.json()["data"]["status"] == "cancelled"
    assert second.status_code == 200
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "5"


def test_cancel_restocks_only_what_was_not_refunded(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    order = sim.post("/orders", order_body(p["id"], qty=3)).json()["data"]
    line = order["line_items"][0]
    refund = {
        "reference": "bc-refund-1",
        "line_items": [{"line_item_id": line["id"], "quantity": 1}],
        "restock": False,
    }
    assert sim.post(f"/orders/{order['id']}/refunds", refund).status_code == 201
    sim.post(f"/orders/{order['id']}/cancel", {"restock": True})
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "4"  # 5 - 3 + (3 - 1)


def test_refund_is_idempotent_by_reference_and_restocks_once(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    order = sim.post("/orders", order_body(p["id"], qty=2)).json()["data"]
    line = order["line_items"][0]
    refund = {
        "reference": "bc-refund-7",
        "line_items": [{"line_item_id": line["id"], "quantity": 1}],
        "restock": True,
        "amount": "12.50",
    }
    first = sim.post(f"/orders/{order['id']}/refunds", refund)
    again = sim.post(f"/orders/{order['id']}/refunds", refund)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "4"
    after = sim.get(f"/orders/{order['id']}").json()["data"]
    assert after["payment_status"] == "partially_refunded"
    assert after["line_items"][0]["refunded_quantity"] == 1
    assert len(after["refunds"]) == 1


def test_refund_beyond_what_is_left_is_422(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    order = sim.post("/orders", order_body(p["id"], qty=2)).json()["data"]
    line = order["line_items"][0]
    too_many = {
        "reference": "bc-refund-x",
        "line_items": [{"line_item_id": line["id"], "quantity": 3}],
    }
    assert sim.post(f"/orders/{order['id']}/refunds", too_many).status_code == 422
    assert str(sim.state.get_stock(STORE, p["id"], 10)) == "3"


def test_full_refund_marks_order_refunded(sim: Sim) -> None:
    order = sim.post("/orders", order_body(None, qty=1)).json()["data"]
    items = [{"line_item_id": li["id"], "quantity": li["quantity"]} for li in order["line_items"]]
    sim.post(f"/orders/{order['id']}/refunds", {"reference": "r", "line_items": items})
    assert sim.get(f"/orders/{order['id']}").json()["data"]["payment_status"] == "refunded"


# -- webhook subscriptions and deliveries -----------------------------------------------


def test_webhook_subscription_lifecycle(sim: Sim) -> None:
    url = "http://127.0.0.1:9/hook"
    first = sim.post("/webhooks", {"url": url, "events": ["product.created"]})
    again = sim.post("/webhooks", {"url": url, "events": ["inventory.updated"]})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["data"] == {
        "id": first.json()["data"]["id"],
        "url": url,
        "events": ["inventory.updated"],
    }
    assert len(sim.get("/webhooks").json()["data"]) == 1
    assert sim.post("/webhooks", {"url": url, "events": ["order.created"]}).status_code == 422
    hook_id = first.json()["data"]["id"]
    resp = requests.delete(f"{sim.api}/webhooks/{hook_id}", headers=AUTH, timeout=5)
    assert resp.status_code == 204
    assert sim.get("/webhooks").json()["data"] == []


def test_deliveries_are_signed_with_the_store_secret(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver, ["product.created"])
    p = sim.state.create_product(STORE, name="Shoe")
    assert sim.state.wait_deliveries(5)
    [call] = receiver.calls
    body, headers = call["json"], call["headers"]
    assert body["type"] == "product.created"
    assert body["store_id"] == STORE
    assert body["data"] == {"product_id": p["id"]}
    assert re.fullmatch(r"evt_[0-9a-f-]{36}", body["id"])
    assert headers["Bindo-Event-Id"] == body["id"]
    assert headers["Bindo-Event"] == "product.created"
    assert verify(SECRET, headers["Bindo-Signature"], call["raw"])
    assert not verify("other-secret", headers["Bindo-Signature"], call["raw"])


def test_sign_matches_the_documented_formula() -> None:
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("s3cret", b"{}", 1700000000) == f"t=1700000000,v1={expected}"


def test_failed_delivery_is_retried_with_the_same_event_id(sim: Sim, receiver: Receiver) -> None:
    receiver.fail_first = 2
    subscribe(sim, receiver, ["product.created"])
    sim.state.create_product(STORE, name="Shoe")
    assert sim.state.wait_deliveries(5)
    assert len(receiver.calls) == 3
    assert len({c["headers"]["Bindo-Event-Id"] for c in receiver.calls}) == 1
    assert all(verify(SECRET, c["headers"]["Bindo-Signature"], c["raw"]) for c in receiver.calls)
    assert [d["status"] for d in sim.state.deliveries] == [500, 500, 204]
    assert [d["attempt"] for d in sim.state.deliveries] == [1, 2, 3]


def test_delivery_gives_up_after_the_schedule(sim: Sim, receiver: Receiver) -> None:
    receiver.fail_first = 100
    subscribe(sim, receiver, ["product.created"])
    sim.state.create_product(STORE, name="Shoe")
    assert sim.state.wait_deliveries(5)
    assert len(receiver.calls) == 4  # first attempt + 3 scheduled retries


def test_unreachable_subscriber_is_retried(sim: Sim) -> None:
    sim.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["product.created"]})
    sim.state.create_product(STORE, name="Shoe")
    assert sim.state.wait_deliveries(10)
    assert [d["status"] for d in sim.state.deliveries] == [None] * 4
    assert all(d["error"] for d in sim.state.deliveries)


def test_back_office_actions_over_http_fire_matching_events(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver)
    ctl = f"{sim.server.url}/_sim/stores/{STORE}"
    created = requests.post(
        f"{ctl}/products", json={"name": "Shoe", "price": "5", "stock": {"10": 2}}, timeout=5
    ).json()["data"]
    pid = created["id"]
    requests.patch(f"{ctl}/products/{pid}", json={"name": "Shoe 2"}, timeout=5)
    requests.post(f"{ctl}/products/{pid}/in_store_only", json={"in_store_only": True}, timeout=5)
    requests.put(
        f"{ctl}/stock", json={"product_id": pid, "location_id": 11, "quantity": "1.5"}, timeout=5
    )
    requests.post(
        f"{ctl}/sales",
        json={"location_id": 10, "lines": [{"product_id": pid, "quantity": 3}]},
        timeout=5,
    )
    requests.delete(f"{ctl}/products/{pid}", timeout=5)
    assert sim.state.wait_deliveries(5)
    expected = [
        ("product.created", {"product_id": pid}),
        ("inventory.updated", {"product_id": pid, "location_id": 10, "quantity": "2.0"}),
        ("product.updated", {"product_id": pid}),
        ("product.updated", {"product_id": pid}),
        ("inventory.updated", {"product_id": pid, "location_id": 11, "quantity": "1.5"}),
        ("inventory.updated", {"product_id": pid, "location_id": 10, "quantity": "-1.0"}),
        ("product.deleted", {"product_id": pid}),
    ]
    assert [(e["type"], e["data"]) for e in sim.state.events(STORE)] == expected
    # Several senders work in parallel, so arrival order is not guaranteed: compare as sets.
    delivered = sorted(repr((b["type"], b["data"])) for b in receiver.bodies())
    assert delivered == sorted(repr(item) for item in expected)
    assert sim.state.get_product(STORE, pid)["in_store_only"] is True


def test_order_cancel_and_refund_restocks_fire_inventory_events(
    sim: Sim, receiver: Receiver
) -> None:
    p = sim.state.create_product(STORE, name="Shoe", stock={10: 5})
    subscribe(sim, receiver, ["inventory.updated"])
    order = sim.post("/orders", order_body(p["id"], qty=2)).json()["data"]
    line = order["line_items"][0]
    sim.post(
        f"/orders/{order['id']}/refunds",
        {
            "reference": "r1",
            "line_items": [{"line_item_id": line["id"], "quantity": 1}],
            "restock": True,
        },
    )
    sim.post(f"/orders/{order['id']}/cancel", {"restock": True})
    assert sim.state.wait_deliveries(5)
    quantities = sorted(b["data"]["quantity"] for b in receiver.bodies())
    assert quantities == ["3.0", "4.0", "5.0"]


def test_delivery_faults_drop_and_bad_signature(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver, ["product.created"])
    sim.state.set_delivery_faults(drop=True)
    sim.state.create_product(STORE, name="Lost")
    sim.state.set_delivery_faults(drop=False, bad_signature=True, duplicate=True)
    sim.state.create_product(STORE, name="Forged")
    assert sim.state.wait_deliveries(5)
    assert len(receiver.calls) == 2  # duplicated, and the dropped one never arrives
    assert receiver.calls[0]["json"]["id"] == receiver.calls[1]["json"]["id"]
    assert not any(
        verify(SECRET, c["headers"]["Bindo-Signature"], c["raw"]) for c in receiver.calls
    )
    assert len(sim.state.events(STORE, "product.created")) == 2


# -- images, pages, rate limit, faults ---------------------------------------------------


def png_info(data: bytes) -> tuple[int, int, bytes]:
    """Parse a PNG strictly (signature, chunk CRCs); returns (width, height, raw pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + chunk) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert kind == b"IEND"
    return size[0], size[1], zlib.decompress(idat)


def test_product_images_are_valid_distinct_pngs(sim: Sim) -> None:
    p = sim.state.create_product(STORE, name="Shoe", image_count=2)
    urls = [img["url"] for img in sim.get(f"/products/{p['id']}").json()["data"]["images"]]
    responses = [requests.get(u, timeout=5) for u in urls]
    assert all(r.headers["Content-Type"] == "image/png" for r in responses)
    infos = [png_info(r.content) for r in responses]
    assert all((w, h) == (64, 64) and len(raw) == 64 * (1 + 64 * 3) for w, h, raw in infos)
    assert infos[0][2][1:4] != infos[1][2][1:4]  # first pixels differ in colour


def test_store_page_lists_products_and_escapes_names(sim: Sim) -> None:
    sim.state.create_product(STORE, name="<script>alert(1)</script>", stock={10: -1})
    sim.post("/orders", order_body(None, ref="bc-page-1"))
    page = requests.get(f"{sim.server.url}/_sim/stores/{STORE}", timeout=5)
    assert page.status_code == 200
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    assert "bc-page-1" in page.text and "/images/" in page.text
    assert STORE in requests.get(sim.server.url + "/", timeout=5).text


def test_rate_limit_answers_429_with_retry_after() -> None:
    app = create_app(BindoSimConfig(rate_limit_per_minute=2))
    app.extensions["bindosim"].create_store(STORE, TOKEN, SECRET)
    client = app.test_client()
    statuses = [client.get(f"/api/v1/stores/{STORE}/locations", headers=AUTH) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 1 <= int(statuses[2].headers["Retry-After"]) <= 60


def test_injected_api_fault_fails_the_next_matching_call(sim: Sim) -> None:
    sim.state.inject_api_fault(503, path_contains="/locations", retry_after=7)
    first = sim.get("/locations")
    assert (first.status_code, first.headers["Retry-After"]) == (503, "7")
    assert sim.get("/locations").status_code == 200


# -- demo catalog ----------------------------------------------------------------------


def upc_valid(code: str) -> bool:
    digits = [int(c) for c in code]
    return (
        len(digits) == 12 and (sum(digits[0:11:2]) * 3 + sum(digits[1:11:2]) + digits[11]) % 10 == 0
    )


def test_upc_check_digit() -> None:
    assert upc_a("03600029145") == "036000291452"
    assert upc_valid("012345678905")


def test_demo_catalog_covers_every_documented_case(sim: Sim) -> None:
    products = build_demo_catalog(sim.state, STORE, sim.server.url)
    assert 35 <= len(products) <= 45
    assert {p["kind"] for p in products} == {"custom", "upc"}
    assert all(upc_valid(p["upc"]) for p in products if p["kind"] == "upc")
    assert all(1 <= len(p["images"]) <= 4 for p in products)
    assert any(" > " in (p["category"] or "") for p in products)
    weights = {
        a["value"] for p in products for a in p["custom_attributes"] if a["name"] == "Weight"
    }
    assert weights >= {
        "2 lb",
        "2 lbs",
        "500 g",
        "12 oz",
        "3 ozs",
        "1.5 kg",
        "2 kgs",
        "1,5 kg",
        "3",
        "heavy",
        "2 stone",
    }
    no_weight = [p for p in products if all(a["name"] != "Weight" for a in p["custom_attributes"])]
    assert no_weight
    assert any(a["name"] == "Category" for p in products for a in p["custom_attributes"])
    assert any(p["in_store_only"] for p in products)
    quantities = {r["quantity"] for r in sim.get("/stock", per_page=250).json()["data"]}
    assert "0.0" in quantities and any(q.startswith("-") for q in quantities)
    assert len(sim.get("/locations").json()["data"]) == 2
    image = requests.get(products[0]["images"][0]["url"], timeout=5)
    assert image.status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        {"custom_attributes": {"Weight": "2 lb"}},
        {"custom_attributes": ["Weight"]},
        {"custom_attributes": [{"name": "Weight"}]},
        {"image_count": "three"},
        {"stock": ["10"]},
    ],
)
def test_a_product_of_the_wrong_shape_answers_400_and_uses_up_no_id(sim: Sim, bad) -> None:
    control = f"{sim.server.url}/_sim/stores/{STORE}/products"
    before = requests.post(control, json={"name": "First"}, timeout=5).json()["data"]["id"]
    refused = requests.post(control, json={"name": "Bad", **bad}, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_request"
    after = requests.post(control, json={"name": "Next"}, timeout=5).json()["data"]["id"]
    assert after == before + 1
    names = [p["name"] for p in sim.get("/products").json()["data"]]
    assert "Bad" not in names


def test_a_refused_edit_changes_nothing(sim: Sim) -> None:
    product = sim.state.create_product(STORE, name="Mug", price="5")
    url = f"{sim.server.url}/_sim/stores/{STORE}/products/{product['id']}"
    answer = requests.patch(url, json={"price": "9", "custom_attributes": {"a": 1}}, timeout=5)
    assert answer.status_code == 400
    assert sim.get(f"/products/{product['id']}").json()["data"]["price"] == "5.00"


def test_the_back_office_reorders_a_products_images(sim: Sim) -> None:
    product = sim.state.create_product(STORE, name="Tent", image_count=3)
    first, second, third = (img["id"] for img in product["images"])
    sim.clock.now += timedelta(minutes=1)
    page = f"{sim.server.url}/_sim/stores/{STORE}/products/{product['id']}/back-office"
    form = {"action": "reorder_images", "image_order": f"{third}, {first}, {second}"}
    assert requests.post(page, data=form, allow_redirects=False, timeout=5).status_code == 303
    data = sim.get(f"/products/{product['id']}").json()["data"]
    assert [img["id"] for img in data["images"]] == [third, first, second]
    assert [img["position"] for img in data["images"]] == [1, 2, 3]
    assert data["updated_at"] != product["updated_at"]
    events = sim.state.store(STORE).events
    assert events[-1]["type"] == "product.updated"

    # The JSON control does the same; an order that drops or repeats an image is refused.
    control = f"{sim.server.url}/_sim/stores/{STORE}/products/{product['id']}/images"
    ok = requests.put(control, json={"order": [first, second, third]}, timeout=5)
    assert [img["id"] for img in ok.json()["data"]["images"]] == [first, second, third]
    assert requests.put(control, json={"order": [first, first]}, timeout=5).status_code == 422
    refused = requests.post(page, data={**form, "image_order": "x"}, timeout=5)
    assert refused.status_code == 400
