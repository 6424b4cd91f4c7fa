"""Rate-limit headers and 429s, scripted faults, the request log and the HTML pages."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.bigcommerce import BCSimConfig
from tests.sandbox.conftest import product_body

RATE_HEADERS = (
    "X-Rate-Limit-Time-Window-Ms",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Requests-Left",
)


@pytest.fixture
def bc_config(bc_portal) -> BCSimConfig:
    return BCSimConfig(
        demo_mode=True, app_url=bc_portal.url, rate_limit_quota=3, rate_limit_window_ms=60_000
    )


def add_fault(bc_sim, **fault):
    response = requests.post(f"{bc_sim.url}/_sim/faults", json=fault, timeout=5)
    assert response.status_code == 200


def test_every_api_response_carries_rate_headers_and_429_when_spent(bc_store):
    lefts = []
    for _ in range(3):
        response = bc_store.get("/v2/time")
        assert all(name in response.headers for name in RATE_HEADERS)
        lefts.append(int(response.headers["X-Rate-Limit-Requests-Left"]))
    assert lefts == [2, 1, 0]
    limited = bc_store.get("/v3/catalog/products")
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Requests-Quota"] == "3"
    assert int(limited.headers["X-Retry-After"]) >= 1
    assert 0 < int(limited.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 60_000


def test_control_and_login_endpoints_are_never_limited(bc_sim, bc_store):
    for _ in range(5):
        assert requests.get(f"{bc_sim.url}/_sim/requests", timeout=5).status_code == 200
    assert "X-Rate-Limit-Requests-Left" not in requests.get(f"{bc_sim.url}/_sim/stores").headers


def test_windows_are_per_store(bc_sim, bc_store):
    for _ in range(4):
        bc_store.get("/v2/time")
    other = bc_sim.state.create_store("other1")
    response = requests.get(
        f"{bc_sim.url}/stores/other1/v2/time", headers={"X-Auth-Token": other.access_token}
    )
    assert response.status_code == 200


def test_window_refills(bc_sim, bc_store):
    bc_sim.state.rate_limiter.window_ms = 50
    for _ in range(3):
        bc_store.get("/v2/time")
    time.sleep(0.06)
    assert bc_store.get("/v2/time").status_code == 200


@pytest.mark.parametrize(
    ("mode", "status", "has_rate_headers"),
    [
        ("429", 429, True),
        ("429_no_headers", 429, False),
        ("500", 500, True),
        ("503", 503, True),
    ],
)
def test_scripted_faults_are_consumed_in_order(bc_sim, bc_store, mode, status, has_rate_headers):
    add_fault(bc_sim, mode=mode, count=1, store_hash="abc123")
    faulted = bc_store.get("/v3/catalog/products")
    assert faulted.status_code == status
    assert ("X-Rate-Limit-Requests-Left" in faulted.headers) is has_rate_headers
    assert bc_store.get("/v3/catalog/products").status_code == 200


def test_fault_path_prefix_and_count(bc_sim, bc_store):
    add_fault(bc_sim, mode="500", count=2, path_prefix="/v2/orders")
    assert bc_store.get("/v2/time").status_code == 200
    assert [bc_store.get("/v2/orders").status_code for _ in range(2)] == [500, 500]


def test_malformed_json_and_timeout_faults(bc_sim, bc_store):
    add_fault(bc_sim, mode="malformed_json")
    add_fault(bc_sim, mode="timeout", delay=0.5)
    broken = bc_store.get("/v3/catalog/products")
    with pytest.raises(ValueError):
        broken.json()
    with pytest.raises(requests.Timeout):
        bc_store.http.get(bc_store.url("/v3/catalog/products"), timeout=0.1)


def test_207_fault_saves_and_reports_partial_failure(bc_sim, bc_store):
    add_fault(bc_sim, mode="207", path_prefix="/v3/catalog/products")
    response = bc_store.post("/v3/catalog/products", product_body())
    assert response.status_code == 207
    assert response.json()["data"]["name"] == "Blue Mug"
    assert "errors" in response.json()


def test_unknown_fault_mode_is_rejected(bc_sim):
    response = requests.post(f"{bc_sim.url}/_sim/faults", json={"mode": "teapot"}, timeout=5)
    assert response.status_code == 400


def test_request_log_groups_by_endpoint_template_and_status(bc_sim, bc_store):
    pid = bc_store.post("/v3/catalog/products", product_body()).json()["data"]["id"]
    bc_store.get(f"/v3/catalog/products/{pid}")
    bc_store.put(f"/v3/catalog/products/{pid}", {"price": 2})
    bc_store.get("/v2/time")  # 4th request: over the quota of 3
    summary = requests.get(
        f"{bc_sim.url}/_sim/requests", params={"store_hash": "abc123"}, timeout=5
    ).json()
    assert summary["total"] == 4
    assert summary["by_endpoint"] == {
        "POST /v3/catalog/products": 1,
        "GET /v3/catalog/products/{id}": 1,
        "PUT /v3/catalog/products/{id}": 1,
        "GET /v2/time": 1,
    }
    assert summary["status_counts"] == {"200": 3, "429": 1}
    requests.post(f"{bc_sim.url}/_sim/requests/reset", timeout=5)
    assert bc_sim.state.request_summary("abc123")["total"] == 0


def test_pages_list_stores_and_escape_merchant_data(bc_sim, bc_store, tiny_png_server):
    evil = "<script>alert(1)</script>"
    bc_store.post(
        "/v3/catalog/products",
        product_body(name=evil, images=[{"image_url": tiny_png_server.png}]),
    )
    index = requests.get(f"{bc_sim.url}/", timeout=5).text
    assert "abc123" in index
    page = requests.get(f"{bc_sim.url}/_sim/stores/abc123", timeout=5).text
    assert evil not in page and "&lt;script&gt;" in page
    assert f'src="{tiny_png_server.png}"' in page
    assert "MUG-1" in page and "9.99" in page
