"""Periodic alert checks run by the tick: a queue backlog and products that keep failing.

The other alerts are raised where the problem is seen: reconciliation drift by the catalog
reconcile job, a revoked token by ``worker.context.mark_needs_reauth``, a deactivated
BigCommerce webhook by the orders sweep.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import or_, select

from portal.alerts import raise_alert, resolve_alert
from portal.extensions import db
from portal.models import Alert, ProductBinding, SyncState, utcnow
from portal.queue import DEFAULT, HIGH, get_queue, redis_conn
from worker.periodic import periodic

log = logging.getLogger(__name__)

BACKLOG_QUEUES = (HIGH, DEFAULT)


def oldest_queued_age(name: str, now: datetime | None = None) -> float | None:
    """Seconds the job at the head of queue ``name`` has waited; None when the queue is empty."""
    queue = get_queue(name)
    for job_id in queue.get_job_ids(0, 5):
        try:
            job = Job.fetch(job_id, connection=redis_conn(), serializer=JSONSerializer)
        except NoSuchJobError:  # expired between the two reads: look at the next one
            continue
        if job.enqueued_at is None:
            continue
        enqueued = job.enqueued_at
        if enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=UTC)
        return ((now or utcnow()) - enqueued).total_seconds()
    return None


@periodic
def check_queue_backlog() -> None:
    """Alert when the oldest job of ``high`` or ``default`` waited past the threshold."""
    threshold = float(current_app.config["ALERT_QUEUE_BACKLOG_SECONDS"])
    for name in BACKLOG_QUEUES:
        age = oldest_queued_age(name)
        if age is not None and age > threshold:
            raise_alert(
                "queue_backlog",
                f"The oldest job in the {name} queue has waited {int(age)} s (more than "
                f"{int(threshold)} s): workers are down or too few for the load.",
                subject=name,
            )
        else:
            resolve_alert("queue_backlog", subject=name)
    db.session.commit()


@periodic
def check_failing_products() -> None:
    """One alert per (merchant, error kind) with products needing staff: a final error (no
    retry can fix it) or ``ALERT_FAILING_ATTEMPTS`` failures or more. Raised once and kept up to
    date (count and message) without notifying again; resolved once no product of that
    merchant fails with that kind."""
    limit = int(current_app.config["ALERT_FAILING_ATTEMPTS"])
    failing = db.session.scalars(
        select(ProductBinding)
        .where(
            ProductBinding.sync_state == SyncState.FAILED.value,
            or_(ProductBinding.attempts >= limit, ProductBinding.error_retryable.is_(False)),
        )
        .order_by(ProductBinding.first_error_at, ProductBinding.id)
    ).all()
    groups: dict[tuple[int, str], list[ProductBinding]] = defaultdict(list)
    for binding in failing:
        groups[(binding.merchant_id, binding.error_code or "unknown")].append(binding)
    open_alerts = _open_product_alerts()
    for (merchant_id, kind), bindings in groups.items():
        alert = open_alerts.get(_group_key(merchant_id, kind))
        if alert is not None:
            # Already open: keep its text current, but do not notify anyone again.
            alert.message, alert.count = _failing_message(bindings), len(bindings)
            continue
        alert = raise_alert(
            "product_failing",
            _failing_message(bindings),
            merchant=bindings[0].merchant,
            subject=kind,
        )
        alert.count = len(bindings)
    for key, alert in open_alerts.items():
        merchant_id, _, kind = key.removeprefix("product_failing:").partition(":")
        if (int(merchant_id) if merchant_id.isdigit() else -1, kind) not in groups:
            alert.resolved_at = utcnow()
    db.session.commit()


def _group_key(merchant_id: int, kind: str) -> str:
    # The dedupe key portal.alerts builds for (kind, merchant, subject).
    return f"product_failing:{merchant_id}:{kind}"


def _open_product_alerts() -> dict[str, Alert]:
    rows = db.session.scalars(
        select(Alert).where(Alert.kind == "product_failing", Alert.resolved_at.is_(None))
    ).all()
    return {row.dedupe_key: row for row in rows}


def _failing_message(bindings: list[ProductBinding]) -> str:
    """ "12 products of Demo Outdoor Co fail with weight_unparseable since 05:40 UTC: ..." """
    first = bindings[0]
    store = first.merchant.store_name or first.merchant.store_hash
    since = min((b.first_error_at for b in bindings if b.first_error_at), default=None)
    when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
    example = first.error_message or first.error_code or "unknown error"
    noun = "product" if len(bindings) == 1 else "products"
    verb = "fails" if len(bindings) == 1 else "fail"
    return (
        f"{len(bindings)} {noun} of {store} ({first.merchant.store_hash}) {verb} with "
        f"{first.error_code or 'an unknown error'}{when}. For example: {example}"
    )
