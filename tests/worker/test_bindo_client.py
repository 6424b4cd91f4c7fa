"""BindoClient against the simulator over HTTP, plus `responses` for transport edge cases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from sandbox.bindo import BindoSimConfig, SimState, create_app
from sandbox.server import RunningServer, Swappable, serve_in_thread
from worker.clients.bindo import RETRY, BindoClient, parse_retry_after
from worker.clients.errors import (
    Conflict,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from worker.clients.retry import RetryPolicy

STORE = "s-42"
TOKEN = "very-secret-token-xyz"
FAKE_URL = "http://bindo.test"


def quick_retry(sleeps: list[float] | None = None) -> RetryPolicy:
    """The client's own policy, with its waits recorded instead of slept (jitter at its top)."""
    return RetryPolicy(
        deduplicated=RETRY.deduplicated,
        sleep=(sleeps if sleeps is not None else []).append,
        rng=lambda: 1.0,
    )


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[Swappable, RunningServer]]:
    holder = Swappable()
    server = serve_in_thread(holder)
    yield holder, server
    server.shutdown()


@pytest.fixture
def state(shared_server: tuple[Swappable, RunningServer]) -> Iterator[SimState]:
    holder, _ = shared_server
    app = create_app(BindoSimConfig(time_scale=0.001))
    sim: SimState = app.extensions["bindosim"]
    sim.create_store(
        STORE, TOKEN, "whsec", [{"id": 10, "name": "Main"}, {"id": 11, "name": "Mall"}]
    )
    holder.app = app
    yield sim
    sim.shutdown()


@pytest.fixture
def client(shared_server: tuple[Swappable, RunningServer], state: SimState) -> BindoClient:
    return BindoClient(shared_server[1].url, STORE, TOKEN, timeout=2.0, retry=quick_retry())


def order(ref: str, product_id: int | None, qty: int = 1) -> dict[str, Any]:
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
                "sku": "S",
                "price": "10.00",
                "quantity": qty,
                "external_line_id": "1",
            },
        ],
        "note": "",
    }


# -- against the simulator -------------------------------------------------------------


def test_iter_products_walks_every_page(client: BindoClient, state: SimState) -> None:
    made = [state.create_product(STORE, name=f"P{i}")["id"] for i in range(230)]
    state.delete_product(STORE, made[0])
    assert [p["id"] for p in client.iter_products()] == made  # deleted included by default
    assert len(list(client.iter_products(include_deleted=False))) == 229


def test_iter_products_passes_updated_since(client: BindoClient, state: SimState) -> None:
    state.create_product(STORE, name="A")
    assert list(client.iter_products(updated_since=datetime(2999, 1, 1, tzinfo=UTC))) == []
    assert len(list(client.iter_products(updated_since="2000-01-01T00:00:00Z"))) == 1


def test_get_products_batches_ids_by_hundred(client: BindoClient, state: SimState) -> None:
    ids = [state.create_product(STORE, name=f"P{i}")["id"] for i in range(150)]
    wanted = ids[::2] + [999999]
    assert [p["id"] for p in client.get_products(wanted)] == ids[::2]
    assert client.get_product(ids[0])["name"] == "P0"
    with pytest.raises(NotFound):
        client.get_product(999999)


def test_get_stock_returns_decimals_per_product(client: BindoClient, state: SimState) -> None:
    a = state.create_product(STORE, name="A", stock={10: "2.5", 11: 4})["id"]
    b = state.create_product(STORE, name="B", stock={10: -3})["id"]
    assert client.get_stock(10) == {a: Decimal("2.5"), b: Decimal("-3")}
    assert client.get_stock(11, product_ids=[b]) == {b: Decimal("0")}
    assert [loc["id"] for loc in client.list_locations()] == [10, 11]


def test_customers_find_and_create(client: BindoClient) -> None:
    assert client.find_customer_by_email("ann@example.com") is None
    made = client.create_customer(
        email="Ann@Example.com", first_name="Ann", last_name="Lee", address={"city": "Springfield"}
    )
    assert client.find_customer_by_email("ANN@example.com")["id"] == made["id"]
    assert client.get_customer(made["id"])["address"]["city"] == "Springfield"
    with pytest.raises(Conflict):
        client.create_customer(email="ann@example.com")


def test_create_order_reports_replays(client: BindoClient, state: SimState) -> None:
    pid = state.create_product(STORE, name="Shoe", stock={10: 5})["id"]
    first, replayed_first = client.create_order(order("bc-h-1", pid, qty=2))
    second, replayed_second = client.create_order(order("bc-h-1", pid, qty=2))
    assert (replayed_first, replayed_second) == (False, True)
    assert first == second
    assert client.find_order_by_reference("bc-h-1")["id"] == first["id"]
    assert client.find_order_by_reference("bc-h-404") is None
    assert client.get_order(first["id"])["total"] == "20.00"
    assert state.get_stock(STORE, pid, 10) == Decimal(3)


def test_cancel_and_refund_round_trip(client: BindoClient, state: SimState) -> None:
    pid = state.create_product(STORE, name="Shoe", stock={10: 5})["id"]
    created, _ = client.create_order(order("bc-h-2", pid, qty=2))
    line_id = created["line_items"][0]["id"]
    items = [{"line_item_id": line_id, "quantity": 1}]
    refund, replayed = client.create_refund(
        created["id"], reference="bc-refund-1", line_items=items, amount=Decimal("10.00")
    )
    again, replayed_again = client.create_refund(
        created["id"], reference="bc-refund-1", line_items=items
    )
    assert (replayed, replayed_again, again["id"]) == (False, True, refund["id"])
    with pytest.raises(ValidationFailed) as err:
        client.create_refund(
            created["id"],
            reference="bc-refund-2",
            line_items=[{"line_item_id": line_id, "quantity": 5}],
        )
    assert err.value.status == 422 and err.value.service == "bindo"
    assert client.cancel_order(created["id"])["status"] == "cancelled"
    assert client.cancel_order(created["id"])["status"] == "cancelled"
    assert state.get_stock(STORE, pid, 10) == Decimal(5)


def test_webhook_subscriptions(client: BindoClient) -> None:
    hook = client.create_webhook("http://127.0.0.1:9/h", ["product.updated"])
    assert client.create_webhook("http://127.0.0.1:9/h", ["inventory.updated"])["id"] == hook["id"]
    assert [h["events"] for h in client.list_webhooks()] == [["inventory.updated"]]
    client.delete_webhook(hook["id"])
    assert client.list_webhooks() == []
    with pytest.raises(NotFound):
        client.delete_webhook(hook["id"])


def test_bad_token_is_unauthorized_and_not_echoed(shared_server, state: SimState) -> None:
    bad = BindoClient(shared_server[1].url, STORE, "wrong-token-abc")
    with pytest.raises(Unauthorized) as err:
        bad.list_locations()
    assert "wrong-token-abc" not in str(err.value)
    assert "wrong-token-abc" not in repr(err.value.to_dict())
    assert "wrong-token-abc" not in repr(bad)


def test_a_passing_fault_is_retried_inside_the_call(client: BindoClient, state: SimState) -> None:
    state.inject_api_fault(500, path_contains="/locations")
    assert [loc["id"] for loc in client.list_locations()] == [10, 11]
    state.inject_api_fault(503, path_contains="/locations", retry_after=2, count=2)
    assert len(client.list_locations()) == 2


def test_lasting_faults_and_long_waits_go_back_to_the_queue(shared_server, state: SimState) -> None:
    sleeps: list[float] = []
    bindo = BindoClient(shared_server[1].url, STORE, TOKEN, retry=quick_retry(sleeps))
    state.inject_api_fault(500, path_contains="/locations", count=5)
    with pytest.raises(ServerError):
        bindo.list_locations()
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # five attempts, full-jitter ceilings between them
    sleeps.clear()
    state.inject_api_fault(429, path_contains="/locations", retry_after=12)
    with pytest.raises(RateLimited) as err:
        bindo.list_locations()
    assert err.value.retry_after == 12 and sleeps == []  # longer than a worker should idle


def test_slow_answers_are_a_transport_error(shared_server, state: SimState) -> None:
    state.inject_api_fault(None, path_contains="/locations", delay=0.5, count=5)
    impatient = BindoClient(shared_server[1].url, STORE, TOKEN, timeout=0.1, retry=quick_retry())
    with pytest.raises(TransportError) as err:
        impatient.list_locations()
    assert err.value.retryable


# -- edge cases with `responses` ---------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def fake_client(sleeps: list[float] | None = None) -> BindoClient:
    return BindoClient(FAKE_URL, STORE, TOKEN, retry=quick_retry(sleeps))


LOCATIONS = f"{FAKE_URL}/api/v1/stores/{STORE}/locations"


def test_sends_bearer_token(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, json={"data": []})
    fake_client().list_locations()
    assert fake.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ValidationFailed),
        (401, Unauthorized),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationFailed),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_status_maps_to_typed_error(fake: responses.RequestsMock, status: int, error_class) -> None:
    fake.get(LOCATIONS, status=status, json={"error": {"code": "x", "message": "boom"}})
    with pytest.raises(error_class) as err:
        fake_client().list_locations()
    # A 5xx is tried five times in the call; a 4xx is final at once.
    assert len(fake.calls) == (RETRY.attempts if status >= 500 else 1)
    assert err.value.status == status
    assert err.value.service == "bindo"
    assert err.value.errors == {"code": "x", "message": "boom"}


def test_rate_limited_carries_retry_after(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, status=429, headers={"Retry-After": "30"}, json={"error": {}})
    with pytest.raises(RateLimited) as err:
        fake_client().list_locations()
    assert err.value.retry_after == 30.0 and err.value.retryable


def test_retry_after_accepts_http_dates() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after(None) == 0.0
    assert parse_retry_after("soon") == 0.0


def test_timeout_is_a_transport_error(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, body=requests.Timeout("read timed out"))
    with pytest.raises(TransportError):
        fake_client().list_locations()
    assert len(fake.calls) == RETRY.attempts


def test_a_write_is_repeated_because_bindo_deduplicates_it(fake: responses.RequestsMock) -> None:
    orders = f"{FAKE_URL}/api/v1/stores/{STORE}/orders"
    fake.post(orders, body=requests.Timeout("read timed out"))
    fake.post(orders, status=200, json={"data": {"id": 7}}, headers={"Idempotent-Replayed": "true"})
    sleeps: list[float] = []
    created, replayed = fake_client(sleeps).create_order(order("bc-1", 5))
    assert created == {"id": 7} and replayed
    assert len(fake.calls) == 2 and sleeps == [1.0]


def test_connection_error_hides_details(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, body=requests.ConnectionError(f"refused, header Bearer {TOKEN}"))
    with pytest.raises(TransportError) as err:
        fake_client().list_locations()
    assert TOKEN not in str(err.value)


def test_non_json_success_body_is_a_transport_error(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, body="<html>gateway</html>", status=200)
    with pytest.raises(TransportError) as err:
        fake_client().list_locations()
    assert err.value.status == 200
    assert len(fake.calls) == 1  # an answer we cannot read is not asked for again


def test_html_error_page_still_maps_by_status(fake: responses.RequestsMock) -> None:
    fake.get(LOCATIONS, body="<html>Bad Gateway</html>", status=502)
    with pytest.raises(ServerError):
        fake_client().list_locations()


def test_token_echoed_by_the_server_is_masked(fake: responses.RequestsMock) -> None:
    fake.get(
        LOCATIONS,
        status=401,
        json={"error": {"code": "unauthorized", "message": f"token {TOKEN} revoked"}},
    )
    with pytest.raises(Unauthorized) as err:
        fake_client().list_locations()
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(err.value.to_dict()) + repr(err.value.body)
    assert "***" in str(err.value)
