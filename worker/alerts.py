"""Periodic alert checks run by the tick: a queue backlog and products that keep failing.

The other alerts are raised where the problem is seen: reconciliation drift by the catalog
reconcile job, a revoked token by ``worker.context.mark_needs_reauth``, a deactivated
BigCommerce webhook by the orders sweep.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

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
    """One alert per product failed ``ALERT_FAILING_ATTEMPTS`` times or more; resolved once it
    syncs."""
    limit = int(current_app.config["ALERT_FAILING_ATTEMPTS"])
    failing = db.session.scalars(
        select(ProductBinding).where(
            ProductBinding.sync_state == SyncState.FAILED.value,
            ProductBinding.attempts >= limit,
        )
    ).all()
    open_keys = _open_product_alerts()
    for binding in failing:
        if _product_key(binding.merchant_id, binding.id) in open_keys:
            continue  # already open: do not bump it (and notify nobody) on every tick
        raise_alert(
            "product_failing",
            _failing_message(binding),
            merchant=binding.merchant,
            subject=str(binding.id),
        )
    still = {_product_key(b.merchant_id, b.id) for b in failing}
    for key, alert in open_keys.items():
        if key not in still:
            alert.resolved_at = utcnow()
    db.session.commit()


def _product_key(merchant_id: int, binding_id: int) -> str:
    # The dedupe key portal.alerts builds for (kind, merchant, subject).
    return f"product_failing:{merchant_id}:{binding_id}"


def _open_product_alerts() -> dict[str, Alert]:
    rows = db.session.scalars(
        select(Alert).where(Alert.kind == "product_failing", Alert.resolved_at.is_(None))
    ).all()
    return {row.dedupe_key: row for row in rows}


def _failing_message(binding: ProductBinding) -> str:
    name = binding.name or f"Bindo product {binding.bindo_product_id}"
    reason = binding.error_message or binding.error_code or "unknown error"
    return f"{name} ({binding.merchant.store_hash}) failed {binding.attempts} times: {reason}"
