"""The Prometheus endpoints after a real run: simulators over HTTP, a real worker, real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from portal import metrics
from portal.models import ImportedOrder
from sandbox.bigcommerce.traffic import RateLimiter
from tests.conftest import wait_for
from tests.orders.helpers import place_order, subscribe_orders
from tests.stock.helpers import BINDO_LOCATION, bc_level, bound_product

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "metrics-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_on(app):
    app.config["METRICS_TOKEN"] = TOKEN
    yield app
    app.config["METRICS_TOKEN"] = ""


def scrape(client, path: str) -> dict[str, list]:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 200, response.status_code
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f.samples for f in text_string_to_metric_families(response.get_data(True))}


def value(samples, name: str, **labels: str) -> float:
    total = 0.0
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            total += sample.value
    return total


def test_every_family_is_exposed_after_a_run_through_the_simulators(
    stack, worker_process, metrics_on, client, tmp_path
):
    m = stack.linked_merchant("ops1")
    product = bound_product(stack, m, stock={BINDO_LOCATION: 8})
    stack.bindo.subscribe(
        m.bindo_store_id, f"{stack.portal_url}/webhooks/bindo/{m.id}", ["inventory.updated"]
    )
    subscribe_orders(stack, m, ("store/order/created",))
    before = scrape(client, "/metrics")
    ok_before = value(before["bindo_webhook_deliveries"], "bindo_webhook_deliveries_total",
                      source="bindo", status="200", outcome="ok")  # fmt: skip
    log_file = tmp_path / "worker-json.log"
    worker_process("--no-ticker", LOG_FORMAT="json", WORKER_LOG=str(log_file))
    # The 429 carries the window's reset time and the worker waits it out: a 3 s window keeps
    # that wait well inside the 30 s below (with the stack's 30 s window it came within a
    # second of the limit, and failed on a slower run).
    stack.bc.rate_limiter = RateLimiter(10_000, 3_000)
    stack.bc.add_fault("429", count=1, path_prefix="/v3/inventory")
    stack.bindo.sell_in_store(
        m.bindo_store_id, BINDO_LOCATION, [{"product_id": product.bindo_product_id, "quantity": 3}]
    )
    wait_for(lambda: bc_level(stack, "ops1", product.bc_product_id) == 5, timeout=30)
    place_order(stack, "ops1", [{"product_id": product.bc_product_id, "quantity": 1}])
    wait_for(lambda: ImportedOrder.query.filter_by(state="imported").count() == 1, timeout=30)
    # A forged delivery: refused, and counted as such.
    assert client.post(f"/webhooks/bindo/{m.id}", data=b"{}").status_code == 401

    host = scrape(client, "/metrics")
    deliveries = host["bindo_webhook_deliveries"]
    assert value(deliveries, "bindo_webhook_deliveries_total",
                 source="bindo", status="200", outcome="ok") > ok_before  # fmt: skip
    assert value(deliveries, "bindo_webhook_deliveries_total", source="bigcommerce", status="200")
    assert value(deliveries, "bindo_webhook_deliveries_total", status="401", outcome="unauthorized")

    cluster = wait_for(
        lambda: (
            (c := scrape(client, "/metrics/cluster"))
            and value(c["bindo_jobs"], "bindo_jobs_total", func="import_order", outcome="finished")
            and c
        ),
        timeout=10,
    )
    expected = set(metrics.COUNTERS) | set(metrics.HISTOGRAMS) | set(metrics.TOP_N)
    expected |= {
        "bindo_inbox_backlog", "bindo_inbox_oldest_waiting_seconds", "bindo_inbox_failed",
        "bindo_rq_queue_depth", "bindo_rq_oldest_job_age_seconds", "bindo_rq_jobs",
        "bindo_sync_lag_max_seconds", "bindo_sync_lag_seconds", "bindo_orders_imported",
        "bindo_orders_waiting", "bindo_merchants", "bindo_circuit_breakers", "bindo_circuit_open",
    }  # fmt: skip
    assert expected <= set(cluster), expected - set(cluster)
    assert value(cluster["bindo_jobs"], "bindo_jobs_total", func="push_stock", outcome="finished")
    assert value(cluster["bindo_job_duration_seconds"], "bindo_job_duration_seconds_count",
                 func="push_stock") >= 1  # fmt: skip
    requests_ = cluster["bindo_bigcommerce_requests"]
    assert value(requests_, "bindo_bigcommerce_requests_total", status="429") == 1
    assert value(requests_, "bindo_bigcommerce_requests_total",
                 endpoint="PUT /v3/inventory/adjustments/absolute", status="200") >= 1  # fmt: skip
    assert value(cluster["bindo_bigcommerce_rate_limited"],
                 "bindo_bigcommerce_rate_limited_total") == 1  # fmt: skip
    by_store = cluster["bindo_bigcommerce_rate_limited_by_store"]
    assert value(by_store, "bindo_bigcommerce_rate_limited_by_store_total", store_hash="ops1") == 1
    assert value(cluster["bindo_stock_pushes"], "bindo_stock_pushes_total") >= 1
    assert value(cluster["bindo_stock_push_latency_seconds"],
                 "bindo_stock_push_latency_seconds_count") >= 1  # fmt: skip
    assert value(cluster["bindo_orders_imported"], "bindo_orders_imported_total") == 1
    assert value(cluster["bindo_merchants"], "bindo_merchants", state="active") == 1
    # The import lowered Bindo's stock, whose event is processed in turn: the backlog drains.
    wait_for(
        lambda: (
            not value(
                scrape(client, "/metrics/cluster")["bindo_inbox_backlog"], "bindo_inbox_backlog"
            )
        ),
        timeout=20,
    )

    # LOG_FORMAT=json: the worker wrote one JSON object per line, with job id and store.
    lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), [line for line in lines if not line.startswith("{")][:3]
    stock_lines = [r for r in records if "stock pushed" in r["message"]]
    assert stock_lines and stock_lines[0]["store_hash"] == "ops1"
    assert stock_lines[0]["merchant"] == m.id and stock_lines[0]["job_id"].startswith("stock")


def test_gauges_show_a_backlog_a_lag_and_an_open_circuit(app, metrics_on, client, redis_conn):
    from datetime import timedelta

    from portal.extensions import db
    from portal.models import Merchant, WebhookEvent, utcnow

    m = Merchant(store_hash="lag1", state="active")
    db.session.add(m)
    db.session.commit()
    db.session.add(
        WebhookEvent(source="bindo", event_key="e1", scope="product.updated", payload={},
                     merchant_id=m.id, received_at=utcnow() - timedelta(minutes=10))
    )  # fmt: skip
    db.session.commit()
    now_ms = int(utcnow().timestamp() * 1000)
    redis_conn.hset("bc:circuit:lag1", mapping={"open_until": now_ms + 60_000, "failures": 5})
    cluster = scrape(client, "/metrics/cluster")
    assert value(cluster["bindo_inbox_backlog"], "bindo_inbox_backlog", source="bindo") == 1
    lag = value(cluster["bindo_sync_lag_seconds"], "bindo_sync_lag_seconds", store_hash="lag1")
    assert 590 < lag < 3600
    assert value(cluster["bindo_circuit_breakers"], "bindo_circuit_breakers", state="open") == 1
    assert value(cluster["bindo_circuit_open"], "bindo_circuit_open", store_hash="lag1") == 1


def test_per_store_series_are_capped_at_the_top_stores(app, metrics_on, client):
    observe = metrics.bigcommerce_observer()
    for n in range(metrics.TOP_STORES + 5):
        for _ in range(n + 1):
            observe(f"store{n}", "GET /v3/catalog/products", 429, 0.01, 0.5)
    cluster = scrape(client, "/metrics/cluster")
    stores = {s.labels["store_hash"] for s in cluster["bindo_bigcommerce_rate_limited_by_store"]}
    assert len(stores) == metrics.TOP_STORES
    assert f"store{metrics.TOP_STORES + 4}" in stores and "store0" not in stores
    waits = cluster["bindo_bigcommerce_pacing_wait_seconds"]
    assert value(waits, "bindo_bigcommerce_pacing_wait_seconds_total") > 0


@pytest.mark.parametrize("path", ["/metrics", "/metrics/cluster"])
def test_metrics_need_the_bearer_token(app, client, path):
    app.config["METRICS_TOKEN"] = ""
    assert client.get(path).status_code == 404  # off while no token is configured
    app.config["METRICS_TOKEN"] = TOKEN
    try:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401
        assert client.get(path, headers=AUTH).status_code == 200
    finally:
        app.config["METRICS_TOKEN"] = ""


def test_alert_rules_are_valid_and_use_exposed_metrics():
    rules = yaml.safe_load((ROOT / "ops" / "prometheus-rules.yml").read_text())
    names = set()
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
            assert rule["labels"]["severity"] in {"page", "ticket"}
            names.add(rule["alert"])
            used = set(__import__("re").findall(r"\bbindo_[a-z_]+", rule["expr"]))
            families = set(metrics.COUNTERS) | set(metrics.HISTOGRAMS) | set(metrics.TOP_N)
            known = {f"{n}_total" for n in families} | {f"{n}_bucket" for n in families}
            known |= {
                "bindo_webhook_deliveries_total", "bindo_rq_queue_depth",
                "bindo_rq_oldest_job_age_seconds", "bindo_rq_jobs", "bindo_inbox_backlog",
                "bindo_inbox_oldest_waiting_seconds", "bindo_sync_lag_max_seconds",
                "bindo_merchants", "bindo_circuit_breakers", "bindo_orders_waiting",
                "bindo_inbox_failed",
            }  # fmt: skip
            assert used and used <= known, used - known
    assert {"QueueBacklog", "WebhookErrorRatio", "SyncLag", "TokenRevoked"} <= names
