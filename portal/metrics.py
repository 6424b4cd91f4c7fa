"""Prometheus metrics: what each process counts, what is read at scrape time, and the endpoints.

Two kinds of series, because web processes and RQ work horses live very differently:

- **Per web host** (``/metrics``): webhook deliveries, counted by prometheus_client in each web
  process. Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` puts them in its multiprocess mode (one
  file per web process, merged at scrape time by ``MultiProcessCollector``). Prometheus scrapes
  every web host.
- **Cluster-wide** (``/metrics/cluster``): everything the workers do and everything that is
  state. RQ forks a work horse per job, and prometheus_client's multiprocess mode keeps one
  file per process id for good, so a busy worker would leave hundreds of thousands of files to
  merge at every scrape; and workers run on other hosts than the web. Their counters and
  histograms (jobs, BigCommerce requests, 429s, pacing waits, stock pushes) are therefore
  added to Redis hashes with one pipelined round trip (``record_*`` below). Gauges (inbox
  backlog, queue depth and ages, sync lag, orders waiting, circuit breakers, merchant states)
  are computed from the database and Redis when scraped. Scrape it once (through the load
  balancer), not per host, or sums double.

Label values come from fixed sets (functions, endpoint templates, status codes, states); the
only per-store labels are the top ``TOP_STORES`` stores of a series. See docs/operations.md.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from sqlalchemy import func, select

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

TOP_STORES = 10
_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# -- per web process ------------------------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "bindo_webhook_deliveries",
    "Webhook deliveries answered by this host, by source and outcome (status and reason).",
    ["source", "status", "outcome"],
)
_OUTCOMES = frozenset(
    {"ok", "ignored", "unauthorized", "bad json", "bad shape", "too large", "unavailable", "error"}
)


def webhook_answered(path: str, status: int, body: bytes) -> None:
    """Count one answered delivery (called by the intake once its answer is decided)."""
    source = "bigcommerce" if path.startswith("/webhooks/bigcommerce") else "bindo"
    reason = body.decode("ascii", "replace").strip()
    outcome = reason if reason in _OUTCOMES else "other"
    WEBHOOK_DELIVERIES.labels(source, str(status), outcome.replace(" ", "_")).inc()


# -- cluster-wide counters and histograms, kept in Redis ------------------------------------

JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30)

# name -> (help, label names); stored in the hash ``<prefix>bindo:metrics:c:<name>``
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bindo_jobs": ("Jobs run, by function and outcome.", ("func", "outcome")),
    "bindo_bigcommerce_requests": (
        "BigCommerce API requests (each attempt), by endpoint template and status.",
        ("endpoint", "status"),
    ),
    "bindo_bigcommerce_rate_limited": ("BigCommerce 429 answers, all stores.", ()),
    "bindo_bigcommerce_pacing_wait_seconds": (
        "Seconds requests waited for a store's rate window, all stores.",
        (),
    ),
    "bindo_stock_pushes": ("Stock pushes that sent levels to BigCommerce.", ()),
    "bindo_stock_items_pushed": ("Stock levels sent to BigCommerce.", ()),
}
# name -> (help, label names, buckets); hash ``<prefix>bindo:metrics:h:<name>``
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], Sequence[float]]] = {
    "bindo_job_duration_seconds": ("Job run time, by function.", ("func",), JOB_BUCKETS),
    "bindo_bigcommerce_request_duration_seconds": (
        "BigCommerce API request time (each attempt).",
        (),
        REQUEST_BUCKETS,
    ),
    "bindo_stock_push_latency_seconds": (
        "From the first stock change queuing a push to BigCommerce accepting the levels.",
        (),
        LATENCY_BUCKETS,
    ),
}
# name -> help; sorted set ``<prefix>bindo:metrics:z:<name>`` (store hash -> total); the top
# TOP_STORES stores are exposed with a ``store_hash`` label.
TOP_N: dict[str, str] = {
    "bindo_bigcommerce_rate_limited_by_store": "BigCommerce 429 answers of the busiest stores.",
    "bindo_bigcommerce_pacing_wait_seconds_by_store": (
        "Seconds spent waiting for the rate window, stores that waited most."
    ),
}
_SEP = "\x1f"


def _key(prefix: str, kind: str, name: str) -> str:
    return f"{prefix}bindo:metrics:{kind}:{name}"


def _prefix() -> str:
    return str(current_app.config.get("RQ_QUEUE_PREFIX", ""))


def _labels_field(labels: Iterable[Any]) -> str:
    return _SEP.join(str(v) for v in labels)


def _bucket_index(buckets: Sequence[float], value: float) -> int:
    for i, bound in enumerate(buckets):
        if value <= bound:
            return i
    return len(buckets)  # +Inf


class Recorder:
    """Adds observations to Redis in one pipeline; a Redis error is logged, never raised."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.pipe = redis.pipeline(transaction=False)

    def inc(self, name: str, labels: Sequence[Any] = (), amount: float = 1) -> Recorder:
        key, fld = _key(self.prefix, "c", name), _labels_field(labels)
        if float(amount).is_integer():
            self.pipe.hincrby(key, fld, int(amount))
        else:
            self.pipe.hincrbyfloat(key, fld, amount)
        return self

    def observe(self, name: str, value: float, labels: Sequence[Any] = ()) -> Recorder:
        buckets = HISTOGRAMS[name][2]
        key, fld = _key(self.prefix, "h", name), _labels_field(labels)
        self.pipe.hincrby(key, f"{fld}{_SEP}b{_bucket_index(buckets, value)}", 1)
        self.pipe.hincrbyfloat(key, f"{fld}{_SEP}sum", float(value))
        self.pipe.hincrby(key, f"{fld}{_SEP}count", 1)
        return self

    def top(self, name: str, store_hash: str, amount: float = 1) -> Recorder:
        self.pipe.zincrby(_key(self.prefix, "z", name), amount, store_hash)
        return self

    def send(self) -> None:
        try:
            self.pipe.execute()
        except Exception:  # noqa: BLE001 - metrics never break a job
            log.debug("metrics not recorded", exc_info=True)


def recorder() -> Recorder:
    from portal.queue import redis_conn

    return Recorder(redis_conn(), _prefix())


def record_job(func_name: str, outcome: str, seconds: float) -> None:
    """One job finished (``outcome``: finished, failed, retrying, skipped, deferred)."""
    name = func_name.rsplit(".", 1)[-1]
    rec = recorder().inc("bindo_jobs", (name, outcome))
    rec.observe("bindo_job_duration_seconds", seconds, (name,)).send()


def record_stock_push(items: int, requested_at: datetime | None) -> None:
    """A push sent ``items`` levels; ``requested_at``: when its (debounced) job was created."""
    rec = recorder().inc("bindo_stock_pushes").inc("bindo_stock_items_pushed", (), items)
    if requested_at is not None:
        rec.observe("bindo_stock_push_latency_seconds", _age(datetime.now(UTC), requested_at))
    rec.send()


def bigcommerce_observer() -> Callable[[str, str, int | str, float, float], None]:
    """The BigCommerce client's ``on_request`` callback (the client knows nothing of metrics).

    Called once per attempt with the store, ``"METHOD /template"``, the status (or the
    transport error's name), the attempt's seconds and the seconds its pacing waited.
    """
    from portal.queue import redis_conn

    conn, prefix = redis_conn(), _prefix()

    def observe(store_hash: str, label: str, status: int | str, seconds: float, waited: float):
        rec = Recorder(conn, prefix).inc("bindo_bigcommerce_requests", (label, status))
        rec.observe("bindo_bigcommerce_request_duration_seconds", seconds)
        if status == 429:
            rec.inc("bindo_bigcommerce_rate_limited")
            rec.top("bindo_bigcommerce_rate_limited_by_store", store_hash)
        if waited > 0:
            rec.inc("bindo_bigcommerce_pacing_wait_seconds", (), waited)
            rec.top("bindo_bigcommerce_pacing_wait_seconds_by_store", store_hash, waited)
        rec.send()

    return observe


# -- scrape time ----------------------------------------------------------------------------


def _num(raw: Any) -> float:
    return float(raw.decode() if isinstance(raw, bytes) else raw)


def _str(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _age(now: datetime, at: datetime | None) -> float:
    if at is None:
        return 0.0
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (now - at).total_seconds())


class ClusterCollector:
    """Reads the Redis counters and computes the gauges; needs an app context (scrape view)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._histograms()
        yield from self._top_stores()
        yield from _database_gauges()
        yield from self._queue_gauges()
        yield from self._circuit_gauges()

    def _counters(self) -> Iterator[Metric]:
        for name, (doc, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=labels)
            values = self.redis.hgetall(_key(self.prefix, "c", name))
            if not labels and not values:
                family.add_metric([], 0.0)
            for fld, raw in sorted(values.items()):
                family.add_metric(_str(fld).split(_SEP) if labels else [], _num(raw))
            yield family

    def _histograms(self) -> Iterator[Metric]:
        for name, (doc, labels, buckets) in HISTOGRAMS.items():
            family = HistogramMetricFamily(name, doc, labels=labels)
            series: dict[str, dict[str, float]] = {}
            for fld, raw in self.redis.hgetall(_key(self.prefix, "h", name)).items():
                label_part, _, part = _str(fld).rpartition(_SEP)
                series.setdefault(label_part, {})[part] = _num(raw)
            if not labels and not series:
                series[""] = {}
            for label_part, parts in sorted(series.items()):
                running, cumulative = 0.0, []
                for i, bound in enumerate([*buckets, float("inf")]):
                    running += parts.get(f"b{i}", 0.0)
                    cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
                family.add_metric(
                    label_part.split(_SEP) if labels else [],
                    cumulative,
                    sum_value=parts.get("sum", 0.0),
                )
            yield family

    def _top_stores(self) -> Iterator[Metric]:
        for name, doc in TOP_N.items():
            family = CounterMetricFamily(name, doc, labels=["store_hash"])
            top = self.redis.zrevrange(_key(self.prefix, "z", name), 0, TOP_STORES - 1, True)
            for member, score in top:
                family.add_metric([_str(member)], float(score))
            yield family

    def _queue_gauges(self) -> Iterator[Metric]:
        from rq.job import Job
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
        from rq.serializers import JSONSerializer

        from portal.queue import QUEUE_NAMES, get_queue

        depth = GaugeMetricFamily(
            "bindo_rq_queue_depth", "Jobs waiting in the queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "bindo_rq_oldest_job_age_seconds",
            "How long the job at the head of the queue has waited (0 when empty).",
            labels=["queue"],
        )
        jobs = GaugeMetricFamily(
            "bindo_rq_jobs", "Jobs in the queue's registries, by state.", labels=["queue", "state"]
        )
        now = datetime.now(UTC)
        for name in QUEUE_NAMES:
            queue = get_queue(name)
            depth.add_metric([name], queue.count)
            age = 0.0
            jobs_ahead = queue.get_job_ids(0, 5)
            for job in Job.fetch_many(jobs_ahead, connection=self.redis, serializer=JSONSerializer):
                if job is not None and job.enqueued_at is not None:
                    age = _age(now, job.enqueued_at)
                    break
            oldest.add_metric([name], age)
            for state, registry in (
                ("failed", FailedJobRegistry),
                ("started", StartedJobRegistry),
                ("scheduled", ScheduledJobRegistry),
            ):
                jobs.add_metric([name, state], registry(queue=queue).count)
        yield from (depth, oldest, jobs)

    def _circuit_gauges(self) -> Iterator[Metric]:
        """Stores by breaker state, from the breakers' own Redis hashes (worker/clients/pacing)."""
        counts = {"open": 0, "half_open": 0}
        open_stores: list[tuple[float, str]] = []
        now_ms = datetime.now(UTC).timestamp() * 1000
        for key in self.redis.scan_iter(match="bc:circuit:*", count=500):
            raw = self.redis.hget(key, "open_until")
            if raw is None:
                continue
            until = _num(raw)
            state = "open" if now_ms < until else "half_open"
            counts[state] += 1
            open_stores.append((until, _str(key).rsplit(":", 1)[-1]))
        family = GaugeMetricFamily(
            "bindo_circuit_breakers",
            "Stores whose BigCommerce circuit is not closed.",
            labels=["state"],
        )
        for state, n in counts.items():
            family.add_metric([state], n)
        yield family
        stores = GaugeMetricFamily(
            "bindo_circuit_open",
            "1 for each store whose circuit is open or half-open (the first few).",
            labels=["store_hash"],
        )
        for _, store in sorted(open_stores, reverse=True)[:TOP_STORES]:
            stores.add_metric([store], 1)
        yield stores


def _database_gauges() -> Iterator[Metric]:
    from portal.extensions import db
    from portal.models import ImportedOrder, Merchant, WebhookEvent

    now = datetime.now(UTC)
    backlog = GaugeMetricFamily(
        "bindo_inbox_backlog", "Inbox events not yet processed, by source.", labels=["source"]
    )
    oldest = GaugeMetricFamily(
        "bindo_inbox_oldest_waiting_seconds",
        "Age of the oldest unprocessed inbox event, by source (0 when none).",
        labels=["source"],
    )
    failed = GaugeMetricFamily(
        "bindo_inbox_failed", "Inbox events that gave up after their retries.", labels=["source"]
    )
    waiting = WebhookEvent.state.in_(("received", "processing"))
    rows = dict(
        (source, (n, at))
        for source, n, at in db.session.execute(
            select(WebhookEvent.source, func.count(), func.min(WebhookEvent.received_at))
            .where(waiting)
            .group_by(WebhookEvent.source)
        ).all()
    )
    dead = dict(
        db.session.execute(
            select(WebhookEvent.source, func.count())
            .where(WebhookEvent.state == "failed")
            .group_by(WebhookEvent.source)
        ).all()
    )
    for source in ("bigcommerce", "bindo"):
        n, at = rows.get(source, (0, None))
        backlog.add_metric([source], n)
        oldest.add_metric([source], _age(now, at))
        failed.add_metric([source], dead.get(source, 0))
    yield from (backlog, oldest, failed)

    # Sync lag: the oldest Bindo change (inbox event) each merchant has not applied yet.
    lag_rows = db.session.execute(
        select(Merchant.store_hash, func.min(WebhookEvent.received_at))
        .join(Merchant, Merchant.id == WebhookEvent.merchant_id)
        .where(waiting, WebhookEvent.source == "bindo")
        .group_by(Merchant.store_hash)
    ).all()
    lags = sorted(((_age(now, at), store) for store, at in lag_rows), reverse=True)
    yield GaugeMetricFamily(
        "bindo_sync_lag_max_seconds",
        "Age of the oldest Bindo change not yet applied, over all merchants.",
        value=lags[0][0] if lags else 0.0,
    )
    per_store = GaugeMetricFamily(
        "bindo_sync_lag_seconds",
        f"Age of the oldest Bindo change not yet applied, the {TOP_STORES} most behind merchants.",
        labels=["store_hash"],
    )
    for lag, store in lags[:TOP_STORES]:
        per_store.add_metric([store], lag)
    yield per_store

    imported = db.session.scalar(select(func.count()).where(ImportedOrder.imported_at.is_not(None)))
    yield CounterMetricFamily(
        "bindo_orders_imported", "BigCommerce orders imported into Bindo.", value=imported or 0
    )
    orders = GaugeMetricFamily(
        "bindo_orders_waiting",
        "Orders not (yet) in Bindo, by state (pending, failed, waiting for payment).",
        labels=["state"],
    )
    counts = dict(
        db.session.execute(
            select(ImportedOrder.state, func.count()).group_by(ImportedOrder.state)
        ).all()
    )
    for state in ("pending", "failed", "waiting"):
        orders.add_metric([state], counts.get(state, 0))
    yield orders

    merchants = GaugeMetricFamily(
        "bindo_merchants", "Merchants by state (needs_reauth: token revoked).", labels=["state"]
    )
    by_state = dict(
        db.session.execute(select(Merchant.state, func.count()).group_by(Merchant.state)).all()
    )
    for state in ("installed", "active", "paused", "needs_reauth", "uninstalled"):
        merchants.add_metric([state], by_state.get(state, 0))
    yield merchants


# -- endpoints ------------------------------------------------------------------------------


class _Fixed:
    """A collector over metrics already computed (a registry wants collectors)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def _authorize() -> None:
    """404 while METRICS_TOKEN is unset (the endpoints are off); 401 without the bearer token."""
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not (
        given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())
    ):
        return abort(Response("unauthorized", 401, {"WWW-Authenticate": "Bearer"}))
    return None


def _exposition(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/metrics")
def host_metrics() -> Response:
    """This host's web processes (all gunicorn workers in multiprocess mode)."""
    _authorize()
    if not _MULTIPROCESS:
        return _exposition(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return _exposition(registry)


@bp.get("/metrics/cluster")
def cluster_metrics() -> Response:
    """Workers' counters (from Redis) and state gauges (database, Redis): scrape once."""
    _authorize()
    from portal.queue import redis_conn

    registry = CollectorRegistry()
    registry.register(_Fixed(ClusterCollector(redis_conn(), _prefix()).collect()))
    return _exposition(registry)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def metric_names(text: str) -> set[str]:
    """Family names in an exposition (tests and the alert-rule check use it)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name for family in text_string_to_metric_families(text)}
