"""A sync run's progress and ETA, read from its SyncRun row and the store's request quota.

Shared by the run page, the manage page, the dashboard and the merchant's page
(``run_progress(run)``, ``running_sync(merchant)``), so all of them show the same percentage
and the same ETA.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, SyncRun, utcnow
from portal.queue import redis_conn

FINISHED_STATES = frozenset({"done", "finished", "failed", "cancelled", "succeeded", "error"})
# Requests one product costs in a sync: 1.0 on an initial sync (docs/performance.md).
REQUESTS_PER_ITEM = 1.0
# The Redis hash where the worker's pacer keeps each store's quota (worker/clients/pacing.py).
RATE_KEY = "bc:rate:{store_hash}"


def store_rate(store_hash: str) -> float | None:
    """Requests per second the store's quota allows, as last seen by the workers; None when
    unknown (no response seen yet, or Redis unreachable)."""
    try:
        raw = redis_conn().hmget(RATE_KEY.format(store_hash=store_hash), "quota", "window_ms")
    except (RedisError, OSError):
        return None
    try:
        quota, window_ms = (float(v) for v in raw)
    except (TypeError, ValueError):
        return None
    if quota <= 0 or window_ms <= 0:
        return None
    return quota / (window_ms / 1000)


def eta_seconds(run: SyncRun, now: datetime | None = None, rate: float | None = None) -> int | None:
    """Seconds left: the larger of the pace seen so far and what the store's quota allows
    (the quota is a floor: workers never go faster). 0 when finished, None when unknown."""
    if run.state in FINISHED_STATES or run.finished_at is not None:
        return 0
    if run.total <= 0:
        return None
    remaining = max(run.total - run.done, 0)
    guesses = []
    if rate:
        guesses.append(remaining * REQUESTS_PER_ITEM / rate)
    if run.started_at and run.done > 0:
        elapsed = ((now or utcnow()) - run.started_at).total_seconds()
        if elapsed > 0:
            guesses.append(remaining * elapsed / run.done)
    return round(max(guesses)) if guesses else None


def describe(done: int, total: int, eta: int | None, finished: bool) -> str:
    """ "125 of 250 (50 %), about 2 min left" """
    if not total:
        return "starting" if not finished else "nothing to do"
    text = f"{done} of {total} ({round(100 * done / total)} %)"
    if not finished and eta is not None:
        text += f", about {max(1, round(eta / 60))} min left"
    return text


def run_progress(run: SyncRun, now: datetime | None = None) -> dict[str, Any]:
    """``{"state", "done", "total", "percent", "eta_seconds", "finished", "text"}``."""
    finished = run.state in FINISHED_STATES or run.finished_at is not None
    rate = None if finished else store_rate(run.merchant.store_hash)
    eta = eta_seconds(run, now, rate)
    return {
        "state": run.state,
        "done": run.done,
        "total": run.total,
        "percent": round(100 * run.done / run.total) if run.total else (100 if finished else 0),
        "eta_seconds": eta,
        "finished": finished,
        "text": describe(run.done, run.total, eta, finished),
    }


def running_sync(merchant: Merchant) -> tuple[SyncRun, dict[str, Any]] | None:
    """The merchant's sync in progress (not a dry run) and its ``run_progress``, if any: what
    the manage page, the dashboard and the merchant's page show."""
    run = db.session.scalar(
        select(SyncRun)
        .where(
            SyncRun.merchant_id == merchant.id,
            SyncRun.state.in_(("queued", "running")),
            SyncRun.kind != "dry_run",
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    return (run, run_progress(run)) if run is not None else None
