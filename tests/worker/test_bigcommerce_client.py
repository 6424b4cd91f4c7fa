"""BigCommerceClient against `responses`: status mapping, retries, batching, paging, secrecy."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from worker.clients.bc_core import ApiResponse
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.errors import (
    ApiError,
    CircuitOpen,
    Conflict,
    Forbidden,
    NotFound,
    PartialSuccess,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from worker.clients.pacing import CircuitBreaker, RatePacer

API = "https://api.bc.test"
STORE = "abc123"
TOKEN = "tok-SENTINEL-9f8e7d"
BASE = f"{API}/stores/{STORE}"
PRODUCTS = f"{BASE}/v3/catalog/products"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> BigCommerceClient:
    return BigCommerceClient(API, STORE, TOKEN, sleep=sleeps.append, rng=lambda: 0.5)


def v3(data, status: int = 200, meta=None, **extra):
    body = {"data": data, "meta": meta or {}, **extra}
    return {"status": status, "json": body}


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


# ------------------------------------------------------------------------------ basics


@pytest.mark.parametrize("bad_hash", ["ABC123", "abc/../x", "", "a b", "abc?x=1", "abc.evil.com"])
def test_invalid_store_hash_is_refused_before_any_request(rsps, bad_hash):
    with pytest.raises(ValueError) as info:
        BigCommerceClient(API, bad_hash, TOKEN)
    assert len(rsps.calls) == 0
    assert TOKEN not in str(info.value)


def test_sends_auth_and_json_headers_and_unwraps_v3(rsps, client):
    rsps.add(responses.POST, PRODUCTS, **v3({"id": 5, "name": "Mug"}))
    product = client.create_product({"name": "Mug"})
    assert product == {"id": 5, "name": "Mug"}
    sent = rsps.calls[0].request
    assert sent.headers["X-Auth-Token"] == TOKEN
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/json"


def test_v2_bodies_are_returned_bare(rsps, client):
    rsps.add(responses.GET, f"{BASE}/v2/store", json={"id": STORE, "weight_units": "Ounces"})
    rsps.add(responses.GET, f"{BASE}/v2/time", json={"time": 1234})
    assert client.get_store()["weight_units"] == "Ounces"
    assert client.get_time() == 1234


def test_redirects_are_not_followed(rsps, client):
    rsps.add(responses.GET, f"{BASE}/v2/store", status=302, headers={"Location": "https://evil"})
    with pytest.raises(ApiError) as info:
        client.get_store()
    assert info.value.status == 302
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, ValidationFailed),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, ValidationFailed),
        (422, ValidationFailed),
    ],
)
def test_status_maps_to_typed_error_with_v3_details(rsps, client, status, error_type):
    body = {
        "status": status,
        "title": "JSON data is missing or invalid",
        "type": "/api-docs/getting-started/api-status-codes",
        "errors": {"sku": "duplicate"},
    }
    rsps.add(responses.PUT, f"{PRODUCTS}/7", status=status, json=body)
    with pytest.raises(error_type) as info:
        client.update_product(7, {"sku": "A"})
    err = info.value
    assert err.status == status
    assert err.errors == {"sku": "duplicate"}
    assert err.title == "JSON data is missing or invalid"
    assert not err.retryable
    assert "/v3/catalog/products/{id}" in str(err)
    assert len(rsps.calls) == 1  # final errors are never retried


def test_v2_error_array_is_parsed(rsps, client):
    rsps.add(
        responses.PUT,
        f"{BASE}/v2/orders/9",
        status=400,
        json=[{"status": 400, "message": "The field 'status_id' is invalid."}],
    )
    with pytest.raises(ValidationFailed) as info:
        client.update_order_status(9, 99)
    assert info.value.title == "The field 'status_id' is invalid."
    assert info.value.errors == {"0": "The field 'status_id' is invalid."}


def test_malformed_json_in_2xx_is_a_transport_error(rsps, client):
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=200, body="<html>oops")
    with pytest.raises(TransportError) as info:
        client.get_product(1)
    assert info.value.retryable
    assert info.value.status == 200


def test_207_is_a_success_carrying_the_errors(rsps, client):
    errors = {"status": 422, "title": "inventory not saved", "errors": {"inventory_level": "x"}}
    rsps.add(responses.PUT, f"{PRODUCTS}/3", **v3({"id": 3}, status=207, errors=errors))
    resp = client.request("PUT", "/v3/catalog/products/3", json={"inventory_level": 5})
    assert isinstance(resp, ApiResponse)
    assert resp.status == 207
    assert resp.data == {"id": 3}
    assert resp.errors["errors"] == {"inventory_level": "x"}


# ------------------------------------------------------------------------------ 429 / 5xx


def test_429_with_reset_header_waits_that_long_then_succeeds(rsps, client, sleeps):
    rsps.add(
        responses.GET,
        f"{BASE}/v2/time",
        status=429,
        headers={"X-Rate-Limit-Time-Reset-Ms": "15000"},
    )
    rsps.add(responses.GET, f"{BASE}/v2/time", json={"time": 1})
    assert client.get_time() == 1
    assert sleeps == [15.0]


def test_429_with_reset_waits_through_the_shared_pacer_and_spares_the_breaker(rsps, redis_conn):
    clock = FakeClock()
    pacer = RatePacer(redis_conn, sleep=clock.sleep, clock=clock)
    breaker = CircuitBreaker(redis_conn, failure_threshold=1, clock=clock)
    client = BigCommerceClient(API, STORE, TOKEN, pacer=pacer, breaker=breaker, sleep=clock.sleep)
    rsps.add(
        responses.GET,
        f"{BASE}/v2/time",
        status=429,
        headers={"x-rate-limit-time-reset-ms": "15000"},
    )
    rsps.add(responses.GET, f"{BASE}/v2/time", json={"time": 1})
    assert client.get_time() == 1
    assert len(clock.sleeps) == 1 and 15.0 <= clock.sleeps[0] <= 16.5
    assert breaker.state(STORE) == "closed"


def test_429_without_headers_backs_off_with_jitter_then_raises(rsps, client, sleeps):
    rsps.add(responses.GET, f"{BASE}/v2/time", status=429)
    with pytest.raises(RateLimited) as info:
        client.get_time()
    assert len(rsps.calls) == 5
    # rng() = 0.5: half of 1, 2, 4, 8 seconds.
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    assert info.value.retry_after > 0


def test_5xx_is_retried_then_raises_server_error_with_retry_after(rsps, client, sleeps):
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=500, json={"title": "boom"})
    with pytest.raises(ServerError) as info:
        client.get_product(1)
    assert len(rsps.calls) == 5
    assert info.value.retry_after >= 60
    assert info.value.status == 500
    assert len(sleeps) == 4


def test_5xx_then_success(rsps, client):
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=502)
    rsps.add(responses.GET, f"{PRODUCTS}/1", **v3({"id": 1}))
    assert client.get_product(1) == {"id": 1}


def test_post_500_is_not_retried_but_503_is(rsps, client):
    rsps.add(responses.POST, PRODUCTS, status=500)
    with pytest.raises(ServerError):
        client.create_product({"name": "x"})
    assert len(rsps.calls) == 1
    rsps.replace(responses.POST, PRODUCTS, status=503)
    rsps.add(responses.POST, PRODUCTS, **v3({"id": 2}))
    assert client.create_product({"name": "x"}) == {"id": 2}


def test_read_timeout_on_get_is_retried(rsps, client, sleeps):
    rsps.add(responses.GET, f"{PRODUCTS}/1", body=requests.exceptions.ReadTimeout("slow"))
    rsps.add(responses.GET, f"{PRODUCTS}/1", **v3({"id": 1}))
    assert client.get_product(1) == {"id": 1}
    assert len(rsps.calls) == 2 and len(sleeps) == 1


def test_read_timeout_on_post_is_not_retried(rsps, client):
    rsps.add(responses.POST, PRODUCTS, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransportError) as info:
        client.create_product({"name": "x", "sku": "S1"})
    assert len(rsps.calls) == 1
    assert "may have been processed" in str(info.value)


def test_connect_timeout_on_post_is_retried_because_nothing_was_sent(rsps, client):
    rsps.add(responses.POST, PRODUCTS, body=requests.exceptions.ConnectTimeout("no route"))
    rsps.add(responses.POST, PRODUCTS, **v3({"id": 4}))
    assert client.create_product({"name": "x"}) == {"id": 4}


def test_connection_errors_exhaust_into_transport_error(rsps, client):
    rsps.add(responses.GET, f"{PRODUCTS}/1", body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(TransportError) as info:
        client.get_product(1)
    assert len(rsps.calls) == 5
    assert info.value.retry_after >= 60


def test_breaker_opens_after_five_failures_and_then_fails_fast(rsps, sleeps, redis_conn):
    clock = FakeClock()
    breaker = CircuitBreaker(redis_conn, clock=clock)
    client = BigCommerceClient(API, STORE, TOKEN, breaker=breaker, sleep=sleeps.append)
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=500)
    with pytest.raises(ServerError):
        client.get_product(1)
    calls = len(rsps.calls)
    with pytest.raises(CircuitOpen) as info:
        client.get_product(1)
    assert len(rsps.calls) == calls  # no request while open
    assert info.value.retry_after > 0


def test_a_4xx_closes_the_breaker_as_a_healthy_answer(rsps, redis_conn):
    clock = FakeClock()
    breaker = CircuitBreaker(redis_conn, clock=clock, failure_threshold=1, open_seconds=30)
    breaker.record_failure(STORE)
    clock.now += 30
    client = BigCommerceClient(API, STORE, TOKEN, breaker=breaker)
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=404, json={"title": "nope"})
    with pytest.raises(NotFound):
        client.get_product(1)
    assert breaker.state(STORE) == "closed"


# ------------------------------------------------------------------------------ batches


def echo_batch(bad_ids: set[int] = frozenset(), keyed_by_index: bool = False):
    """A batch PUT that refuses the whole batch when it contains a bad id."""

    def callback(request):
        items = json.loads(request.body)
        bad = [pos for pos, item in enumerate(items) if item["id"] in bad_ids]
        if bad:
            errors = {f"[{pos}].name": "invalid" for pos in bad} if keyed_by_index else {}
            if not keyed_by_index:
                errors = {"name": "The name is invalid"}
            body = {"status": 422, "title": "JSON data is missing or invalid", "errors": errors}
            return 422, {}, json.dumps(body)
        return 200, {}, json.dumps({"data": items, "meta": {}})

    return callback


def test_batch_of_23_goes_out_as_10_10_3(rsps, client):
    rsps.add_callback(responses.PUT, PRODUCTS, callback=echo_batch())
    result = client.update_products([{"id": i, "price": 1} for i in range(1, 24)])
    sizes = [len(json.loads(c.request.body)) for c in rsps.calls]
    assert sizes == [10, 10, 3]
    assert result.ok and len(result.succeeded) == 23


def test_one_bad_item_is_bisected_out_and_the_other_nine_succeed(rsps, client):
    rsps.add_callback(responses.PUT, PRODUCTS, callback=echo_batch({7}))
    result = client.update_products([{"id": i, "price": 1} for i in range(1, 11)])
    assert sorted(result.succeeded) == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert set(result.failed) == {7}
    assert isinstance(result.failed[7], ValidationFailed)
    assert result.failed[7].errors == {"name": "The name is invalid"}
    assert len(rsps.calls) <= 9  # bisection, not one request per item


def test_index_keyed_errors_isolate_the_bad_item_in_one_resend(rsps, client):
    rsps.add_callback(responses.PUT, PRODUCTS, callback=echo_batch({3}, keyed_by_index=True))
    result = client.update_products([{"id": i} for i in range(1, 11)])
    assert set(result.failed) == {3}
    assert result.failed[3].errors == {"[2].name": "invalid"}
    assert len(result.succeeded) == 9
    assert len(rsps.calls) == 2


def test_batch_207_marks_only_the_items_its_errors_name(rsps, client):
    items = [{"id": i} for i in range(1, 4)]
    errors = {"status": 422, "title": "partial", "errors": {"1": "inventory not saved"}}
    rsps.add(responses.PUT, PRODUCTS, status=207, json={"data": items, "errors": errors})
    result = client.update_products(items)
    assert set(result.failed) == {2}
    assert isinstance(result.failed[2], PartialSuccess)
    assert sorted(result.succeeded) == [1, 3]


def test_whole_store_errors_in_a_batch_are_raised(rsps, client):
    rsps.add(responses.PUT, PRODUCTS, status=401, json={"title": "unauthorised"})
    with pytest.raises(Unauthorized):
        client.update_products([{"id": 1}])


def test_create_categories_maps_a_207_per_item(rsps, client):
    created = [{"category_id": 11, "name": "Tea", "tree_id": 1, "parent_id": 0}]
    errors = [{"status": 422, "title": "duplicate", "errors": {"name": "exists"}}]
    rsps.add(
        responses.POST,
        f"{BASE}/v3/catalog/trees/categories",
        status=207,
        json={"data": created, "errors": errors, "meta": {}},
    )
    result = client.create_categories(
        [{"name": "Tea", "tree_id": 1}, {"name": "Coffee", "tree_id": 1}]
    )
    assert result.results[0]["category_id"] == 11
    assert isinstance(result.results[1], ApiError)


def test_set_absolute_levels_sends_sequential_batches_of_2000(rsps, client):
    rsps.add(
        responses.PUT, f"{BASE}/v3/inventory/adjustments/absolute", json={"transaction_id": "t"}
    )
    items = [{"product_id": i, "location_id": 1, "quantity": 3} for i in range(4500)]
    assert client.set_absolute_levels(items, reason="pos sync") == {}  # nothing refused
    bodies = [json.loads(c.request.body) for c in rsps.calls]
    assert [len(b["items"]) for b in bodies] == [2000, 2000, 500]
    assert all(b["reason"] == "pos sync" for b in bodies)


# ------------------------------------------------------------------------------ lookups, paging


def test_sku_lookup_is_chunked_into_modest_urls(rsps, client):
    rsps.add(responses.GET, PRODUCTS, **v3([], meta={"pagination": {"total_pages": 1}}))
    skus = [f"SKU-{i}" for i in range(120)]
    client.find_products_by_skus(skus)
    chunks = [query(c)["sku:in"][0].split(",") for c in rsps.calls]
    assert [len(c) for c in chunks] == [50, 50, 20]
    assert sum(chunks, []) == skus


def test_v3_paging_follows_total_pages(rsps, client):
    rsps.add(responses.GET, PRODUCTS, **v3([{"id": 1}], meta={"pagination": {"total_pages": 2}}))
    rsps.add(responses.GET, PRODUCTS, **v3([{"id": 2}], meta={"pagination": {"total_pages": 2}}))
    assert [p["id"] for p in client.iter_products(is_visible=True)] == [1, 2]
    assert [query(c)["page"] for c in rsps.calls] == [["1"], ["2"]]
    assert query(rsps.calls[0])["limit"] == ["250"]


def test_list_images_treats_204_as_empty(rsps, client):
    rsps.add(responses.GET, f"{PRODUCTS}/5/images", status=204)
    assert client.list_images(5) == []


@pytest.mark.parametrize("empty", [{"status": 204}, {"status": 200, "json": []}])
def test_v2_empty_list_as_204_or_empty_array(rsps, client, empty):
    rsps.add(responses.GET, f"{BASE}/v2/orders", **empty)
    assert list(client.iter_orders(datetime(2024, 1, 1))) == []
    assert query(rsps.calls[0])["min_date_modified"] == ["2024-01-01T00:00:00+00:00"]


def test_v2_paging_stops_at_a_short_page(rsps, client):
    rsps.add(responses.GET, f"{BASE}/v2/orders/1/products", json=[{"id": i} for i in range(250)])
    rsps.add(responses.GET, f"{BASE}/v2/orders/1/products", json=[{"id": 250}])
    assert len(client.get_order_products(1)) == 251
    assert len(rsps.calls) == 2


def test_default_tree_is_the_one_of_channel_1(rsps, client):
    trees = [
        {"id": 4, "name": "Other", "channels": [2]},
        {"id": 1, "name": "Main", "channels": [1]},
    ]
    rsps.add(responses.GET, f"{BASE}/v3/catalog/trees", **v3(trees))
    assert client.get_default_tree_id() == 1


def test_create_hook_sends_the_secret_header(rsps, client):
    rsps.add(responses.POST, f"{BASE}/v3/hooks", **v3({"id": 8}))
    client.create_hook("store/order/*", "https://app/webhooks", {"X-Bindo-Hook-Secret": "s"})
    body = json.loads(rsps.calls[0].request.body)
    assert body == {
        "scope": "store/order/*",
        "destination": "https://app/webhooks",
        "is_active": True,
        "headers": {"X-Bindo-Hook-Secret": "s"},
    }


# ------------------------------------------------------------------------------ secrecy


def test_token_never_appears_in_errors_or_logs(rsps, caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    client = BigCommerceClient(API, STORE, TOKEN, sleep=sleeps.append, max_attempts=2)
    rsps.add(responses.GET, f"{PRODUCTS}/1", status=500, json={"title": "boom"})
    rsps.add(responses.GET, f"{PRODUCTS}/2", status=401, json={"title": "bad token"})
    rsps.add(responses.GET, f"{PRODUCTS}/3", body=requests.exceptions.ReadTimeout(TOKEN))
    rsps.add(responses.GET, f"{PRODUCTS}/4", status=429)
    rsps.add(responses.GET, f"{PRODUCTS}/5", status=200, body="not json")
    errors: list[ApiError] = []
    for pid in range(1, 6):
        with pytest.raises(ApiError) as info:
            client.get_product(pid)
        errors.append(info.value)
    for err in errors:
        assert TOKEN not in str(err)
        assert TOKEN not in repr(err)
        assert TOKEN not in json.dumps(err.to_dict(), default=str)
    assert TOKEN not in repr(client)
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


ABSOLUTE = f"{BASE}/v3/inventory/adjustments/absolute"


def _refuse_product(bad: int, named: bool):
    """An absolute adjustment refused as a whole while it holds product ``bad``."""

    def callback(request):
        items = json.loads(request.body)["items"]
        positions = [n for n, item in enumerate(items) if item["product_id"] == bad]
        if not positions:
            return 200, {}, json.dumps({"transaction_id": "t"})
        errors = {f"items.{positions[0]}": "does not exist"} if named else {}
        return 422, {}, json.dumps({"status": 422, "title": "failed", "errors": errors})

    return callback


@pytest.mark.parametrize("named", [True, False])
def test_a_refused_inventory_batch_is_split_and_the_rest_written(rsps, client, named):
    rsps.add_callback(responses.PUT, ABSOLUTE, callback=_refuse_product(6, named))
    items = [{"location_id": 1, "product_id": p, "quantity": 1} for p in range(1, 9)]
    refused = client.set_absolute_levels(items, "pos")
    assert list(refused) == [5] and isinstance(refused[5], ValidationFailed)
    written = [
        item["product_id"]
        for call in rsps.calls
        if call.response.status_code == 200
        for item in json.loads(call.request.body)["items"]
    ]
    assert sorted(written) == [1, 2, 3, 4, 5, 7, 8]
    assert len(rsps.calls) == (2 if named else 7)  # named: one re-send; else bisection
