"""Periodic work run by the ``tick`` job: relays, sweeps and reconciliations that are due.

Other modules add their due-checks with ``@periodic``; each check is cheap when nothing is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord, Merchant, MerchantState, utcnow
from portal.queue import LOW, TIMEOUTS, enqueue, live_status, make_job_id, redis_conn, send

log = logging.getLogger(__name__)
CHECKS: list[Callable[[], None]] = []
RELAY_AFTER_SECONDS = 30
LOST_AFTER_SECONDS = 60
LOST_BATCH = 500


def periodic(func: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append(func)
    return func


@periodic
def relay_unsent_jobs() -> None:
    """Re-send tracked jobs that never reached Redis (it was down when they were enqueued)."""
    cutoff = utcnow() - timedelta(seconds=RELAY_AFTER_SECONDS)
    rows = db.session.scalars(
        select(JobRecord).where(
            JobRecord.state == "queued",
            JobRecord.error.like("not yet enqueued%"),
            JobRecord.updated_at <= cutoff,
        )
    ).all()
    for row in rows:
        row.error = None
        db.session.commit()
        send(row)
    if rows:
        log.info("relayed %d jobs that had not reached Redis", len(rows))


@periodic
def relay_lost_jobs() -> None:
    """Re-send tracked jobs that Redis lost (FLUSHALL, or a restart without persistence).

    A row still waiting (queued, retrying) or running past its queue's timeout whose RQ job no
    longer exists would otherwise wait for the next sweep. Jobs are idempotent, so a re-send is
    safe even in the rare case that the original finished between the two reads.
    """
    now = utcnow()
    waiting_cutoff = now - timedelta(seconds=LOST_AFTER_SECONDS)
    rows = db.session.scalars(
        select(JobRecord)
        .where(
            JobRecord.state.in_(("queued", "retrying", "started")),
            JobRecord.updated_at <= waiting_cutoff,
        )
        .order_by(JobRecord.id)
        .limit(LOST_BATCH)
    ).all()
    resent = 0
    for row in rows:
        if row.state == "started":
            running_for = (now - (row.started_at or row.updated_at)).total_seconds()
            if running_for < TIMEOUTS.get(row.queue, 3600) + LOST_AFTER_SECONDS:
                continue
        if live_status(row.job_id) is not None:
            continue
        row.state, row.error = "queued", "re-sent: its job was no longer in Redis"
        db.session.commit()
        send(row)
        resent += 1
    if resent:
        log.warning("re-sent %d jobs that Redis had lost", resent)


def due_merchants(last_run_attr: str, interval: float) -> list[Merchant]:
    """Active, linked merchants whose ``last_run_attr`` is older than ``interval`` seconds."""
    now = utcnow()
    active = db.session.scalars(
        select(Merchant).where(Merchant.state == MerchantState.ACTIVE.value)
    ).all()
    due = []
    for merchant in active:
        if not (merchant.syncing and merchant.bindo_linked):
            continue
        last = getattr(merchant, last_run_attr)
        if last is None or (now - last).total_seconds() >= interval:
            due.append(merchant)
    return due


def claim(kind: str, merchant_id: int, seconds: float) -> bool:
    """True once per ``seconds`` per merchant: a failing job is not re-enqueued every tick."""
    key = f"bc:due:{kind}:{merchant_id}"
    return bool(redis_conn().set(key, "1", nx=True, ex=max(1, int(seconds))))


def enqueue_when_due(
    kind: str, *, job: str, last_run_attr: str, interval_setting: str, queue: str = LOW
) -> int:
    """Enqueue ``job(merchant_id)`` for every merchant due for ``kind``; returns how many.

    The job id names the store and the interval window, so a window gets one run however many
    ticks see it due; the Redis claim keeps a failing merchant from being re-enqueued every tick.
    """
    interval = float(current_app.config.get(interval_setting, 900))
    window = int(utcnow().timestamp() // interval)
    sent = 0
    for merchant in due_merchants(last_run_attr, interval):
        if claim(kind, merchant.id, interval):
            enqueue(
                job,
                merchant.id,
                queue=queue,
                job_id=make_job_id(kind, merchant.store_hash, window),
                merchant_id=merchant.id,
            )
            sent += 1
    return sent


def run_checks() -> int:
    failures = 0
    for check in CHECKS:
        try:
            check()
        except Exception:  # noqa: BLE001 - one failing check must not stop the others
            db.session.rollback()
            failures += 1
            log.exception("periodic check %s failed", check.__name__)
    return failures
