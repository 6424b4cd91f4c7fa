"""Periodic work run by the ``tick`` job: relays, sweeps and reconciliations that are due.

Other modules add their due-checks with ``@periodic``; each check is cheap when nothing is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord, utcnow
from portal.queue import send

log = logging.getLogger(__name__)
CHECKS: list[Callable[[], None]] = []
RELAY_AFTER_SECONDS = 30


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
