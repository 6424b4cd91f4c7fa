"""Job plumbing: one app per worker process, and the ``tracked`` decorator every job wears.

Jobs take ids, reload state, record outcomes on their JobRecord row and let failures surface
(re-raise) so RQ's Retry and failed registry see them. A run clears its coalescing flag as it
starts (portal/queue.py). A job whose merchant stopped syncing
(``MerchantInactive``) is recorded as skipped. A job whose store's circuit is open is
deferred (re-scheduled) instead of burning its retries.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal import create_app, metrics
from portal.extensions import db
from portal.logs import bind_log_context, reset_log_context
from portal.models import JobRecord, utcnow
from portal.queue import clear_flag, requeue
from worker.clients.errors import CircuitOpen
from worker.context import MerchantInactive

log = logging.getLogger("worker")
_app: Flask | None = None
F = TypeVar("F", bound=Callable[..., Any])


def get_app() -> Flask:
    """The worker process's app, created on first use (never at import)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


def set_app(app: Flask) -> None:
    """Let tests run jobs in-process against their own app."""
    global _app
    _app = app


class CurrentJobFilter(logging.Filter):
    """Every log line carries the job id."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job else "-"
        return True


def _record(job_id: str | None) -> JobRecord | None:
    if not job_id:
        return None
    return db.session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))


def _update(job_id: str | None, **fields: Any) -> None:
    row = _record(job_id)
    if row is not None:
        for key, value in fields.items():
            setattr(row, key, value)
        db.session.commit()


def warm_up() -> None:
    """Connect once and run the look-ups every job starts with, then close the connection.

    Called by the worker before it forks (worker/__main__.py): its horses inherit the
    database dialect's first-connect set-up and the compiled statements. With the database
    down the worker starts anyway (its horses then do the set-up themselves, as before).
    """
    from portal.models import Merchant

    with get_app().app_context():
        try:
            _record("warm-up")
            db.session.get(Merchant, 0)
        except SQLAlchemyError as exc:
            log.warning("worker: no database warm-up (%s)", type(exc).__name__)
        finally:
            db.session.remove()
            db.engine.dispose()


def _storable(result: Any) -> dict[str, Any] | None:
    """The job's return value as the JobRecord keeps it: a JSON dict, else nothing."""
    if not isinstance(result, dict):
        return None
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        return None
    return result


def tracked(func: F) -> F:
    """Run ``func`` inside the app, with its outcome written to its JobRecord row."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = get_app()
        job = get_current_job()
        job_id = job.id if job else None
        with app.app_context():
            if job is not None:
                # The work horse is a fork: never reuse the parent's pooled connections.
                db.engine.dispose(close=False)
                clear_flag(job)  # from now on a change queues a follow-up run
            row = _record(job_id)
            if row is not None:
                row.state, row.started_at = "started", utcnow()
                row.attempts = (row.attempts or 0) + 1
                db.session.commit()
            try:
                result = func(*args, **kwargs)
            except CircuitOpen as exc:
                db.session.rollback()
                defer(job, exc)
                return {"deferred": exc.retry_after}
            except MerchantInactive as exc:
                # Paused, uninstalled or needing re-auth since the job was queued: the job has
                # nothing to do, which is an outcome, not a failure to retry.
                db.session.rollback()
                log.info("%s skipped: %s", func.__name__, exc)
                _update(job_id, state="skipped", error=str(exc)[:2000], finished_at=utcnow())
                return {"skipped": str(exc)}
            except Exception as exc:
                db.session.rollback()
                retrying = bool(job and job.should_retry)
                _update(
                    job_id,
                    state="retrying" if retrying else "failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    finished_at=None if retrying else utcnow(),
                )
                raise
            else:
                _update(
                    job_id,
                    state="finished",
                    error=None,
                    result=_storable(result),
                    finished_at=utcnow(),
                )
                return result
            finally:
                db.session.remove()

    return measured(func.__name__, wrapper)  # type: ignore[return-value]


def measured(name: str, run: F) -> F:
    """Count the job's outcome and time it (portal.metrics), with its id in every log line."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        job = get_current_job()
        context = bind_log_context(job_id=job.id if job else None)
        started, outcome = time.monotonic(), "failed"
        try:
            result = run(*args, **kwargs)
            kinds = [k for k in ("deferred", "skipped") if isinstance(result, dict) and k in result]
            outcome = kinds[0] if kinds else "finished"
            return result
        except Exception:
            outcome = "retrying" if job is not None and job.should_retry else "failed"
            raise
        finally:
            with get_app().app_context():
                metrics.record_job(name, outcome, time.monotonic() - started)
            reset_log_context(context)

    return wrapper  # type: ignore[return-value]


def defer(job, exc: CircuitOpen) -> None:
    """Schedule the same call again after ``exc.retry_after`` without using up a retry
    (the store's circuit is open or its quota spent).

    The run is queued again under its job id's flag (``portal.queue.requeue``): requests
    made meanwhile merge into the deferred run, and if a run of that job id is already
    waiting, this one ends there ("skipped"). An inbox row's job never gets here: the inbox
    marks the row and the relay sends it again (worker/inbox.py ``_record_deferral``).
    """
    if job is None or not (job.meta or {}).get("flag"):
        raise exc
    delay = max(1.0, float(exc.retry_after or 0))
    # The admin's job boxes follow a run to "<id>--d<stamp>" (portal/admin/jobs.py).
    new_id = f"{job.id.split('--d', 1)[0]}--d{int(utcnow().timestamp())}"
    new_id, queued = requeue(job, delay, new_id)
    row = _record(job.id)
    if row is not None:
        if queued:
            row.state, row.job_id = "deferred", new_id
            row.error = f"{exc}: deferred {delay:.0f}s as {new_id}"[:2000]
        else:
            row.state, row.finished_at = "skipped", utcnow()
            row.error = f"{exc}: the queued run {new_id} does this work"[:2000]
        db.session.commit()
    if queued:
        log.info("job %s deferred %.0fs as %s (%s)", job.id, delay, new_id, exc)
    else:
        log.info("job %s skipped: the queued run %s does its work (%s)", job.id, new_id, exc)
