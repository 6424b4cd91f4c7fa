"""Periodic work run by the ``tick`` job (queued by the clock): sweeps, reconciliations, alerts.

Other modules add their due-checks with ``@periodic``; each check is cheap when nothing is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, MerchantState, utcnow
from portal.queue import LOW, enqueue, make_job_id, redis_conn

log = logging.getLogger(__name__)
CHECKS: list[Callable[[], None]] = []


def periodic(func: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append(func)
    return func


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
    interval = float(current_app.config[interval_setting])
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
