"""The inbox: handler registry, event processing, and the relay that queues the rows' jobs.

Areas register handlers in their own modules with ``@handles(source, *scopes)``; those modules
are imported lazily here, so the inbox does not depend on any area being present. The event
row is the dedupe authority: a processed or ignored row is never handled again, and a lease
("processing" + ``locked_until``) keeps two runs of one event from overlapping.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import Row, and_, or_, select, update

from portal.extensions import db
from portal.models import Merchant, WebhookEvent, utcnow
from portal.queue import HIGH, event_job_id, get_queue, put_event_job, redis_conn
from worker.clients.errors import CircuitOpen
from worker.context import MerchantInactive

log = logging.getLogger(__name__)

Handler = Callable[[WebhookEvent, Merchant], None]
HANDLERS: dict[tuple[str, str], Handler] = {}
# Screens run by the relay on new rows, before any job exists: {event id: why} of the rows
# that need no work (echoes of our own writes); those rows are marked ignored, never queued.
Screen = Callable[[list[WebhookEvent]], dict[int, str]]
SCREENS: dict[tuple[str, str], Screen] = {}
# Handlers that must run even for a merchant that is not syncing (lifecycle events).
LIFECYCLE: set[tuple[str, str]] = set()
AREA_MODULES = ("worker.sync.catalog", "worker.sync.stock", "worker.sync.orders")

RECEIVED, PROCESSING = "received", "processing"
PROCESSED, IGNORED, FAILED = "processed", "ignored", "failed"
DONE_STATES = frozenset({PROCESSED, IGNORED, FAILED})
# One first run plus portal.queue's five RQ retries; the relay does not revive "failed" rows.
MAX_ATTEMPTS = 6
# Longer than the high queue's 120 s job timeout, so a live run never loses its lease.
LEASE_SECONDS = 180
# A row queued this long ago and still "received" is checked against Redis by the relay.
RELAY_AFTER_SECONDS = 60
RELAY_BATCH = 500


def handles(source: str, *scopes: str, lifecycle: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function for ``(source, scope)`` pairs.

    ``lifecycle=True`` lets it run for merchants that are not syncing (only the inbox uses it).
    """

    def register(func: Handler) -> Handler:
        for scope in scopes:
            key = (source, scope)
            current = HANDLERS.get(key)
            if current is not None and _name(current) != _name(func):
                raise ValueError(f"{key} already handled by {_name(current)}")
            HANDLERS[key] = func
            if lifecycle:
                LIFECYCLE.add(key)
        return func

    return register


def screens(source: str, *scopes: str) -> Callable[[Screen], Screen]:
    """Register the decorated function as the relay's screen for ``(source, scope)`` pairs."""

    def register(func: Screen) -> Screen:
        for scope in scopes:
            SCREENS[(source, scope)] = func
        return func

    return register


def _name(func: Callable[..., object]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def load_areas() -> None:
    """Import the area modules so their handlers register; an area not written yet is fine."""
    for name in AREA_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only the area module itself may be missing; a broken import inside it must fail.
            if exc.name != name:
                raise


def handler_for(source: str, scope: str) -> Handler | None:
    load_areas()
    return HANDLERS.get((source, scope))


# --- Processing --------------------------------------------------------------------------


def process(event_id: int) -> str:
    """Handle one inbox row at most once to completion; returns the row's resulting state."""
    try:
        event = db.session.get(WebhookEvent, event_id)
    except RecursionError:
        # A payload nested too deeply to load (stored before the intake refused such bodies):
        # marked failed without loading it, so no job retries it for ever.
        return _fail_unloadable(event_id)
    if event is None:
        log.warning("event %s does not exist", event_id)
        return "missing"
    if event.state in DONE_STATES:
        return event.state
    if not _claim(event_id):
        return "busy"  # another run holds the lease; it, or the relay after it, finishes
    db.session.refresh(event)
    if event.attempts > MAX_ATTEMPTS:
        # Runs killed mid-handler (timeout, OOM) never reach the error path: stop here.
        return _finish(event, FAILED, "gave up after repeated interrupted runs")
    return _dispatch(event)


def _fail_unloadable(event_id: int) -> str:
    db.session.rollback()
    db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .values(state=FAILED, error="payload nested too deeply to read", locked_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.warning("event %s failed: payload nested too deeply to read", event_id)
    return FAILED


def _claim(event_id: int) -> bool:
    """Take the lease in one atomic UPDATE, so exactly one concurrent run wins."""
    now = utcnow()
    result = db.session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            or_(
                WebhookEvent.state == RECEIVED,
                and_(WebhookEvent.state == PROCESSING, WebhookEvent.locked_until < now),
            ),
        )
        .values(
            state=PROCESSING,
            locked_until=now + timedelta(seconds=LEASE_SECONDS),
            attempts=WebhookEvent.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _dispatch(event: WebhookEvent) -> str:
    key = (event.source, event.scope)
    merchant = db.session.get(Merchant, event.merchant_id) if event.merchant_id else None
    if merchant is None:
        return _finish(event, IGNORED, "no merchant")
    handler = handler_for(*key)
    if handler is None:
        return _finish(event, IGNORED, f"no handler for {event.source} {event.scope}")
    if key not in LIFECYCLE and not merchant.syncing:
        return _finish(event, IGNORED, f"merchant is {merchant.state}")
    try:
        handler(event, merchant)
    except MerchantInactive as exc:
        db.session.rollback()
        return _finish(event, IGNORED, str(exc))
    except CircuitOpen as exc:
        db.session.rollback()
        return _record_deferral(event.id, exc)  # the relay sends it again when it is due
    except Exception as exc:
        db.session.rollback()
        _record_failure(event.id, exc)
        raise
    # The handler's own uncommitted changes land in the same transaction as "processed".
    return _finish(event, PROCESSED, None)


def _finish(event: WebhookEvent, state: str, note: str | None) -> str:
    event.state = state
    event.error = note[:2000] if note and state != PROCESSED else None
    event.locked_until = None
    event.processed_at = utcnow()
    db.session.commit()
    log.info("event %s %s (%s %s)", event.id, state, event.source, event.scope)
    return state


def _record_failure(event_id: int, exc: Exception) -> None:
    """Note the error and release the lease; after MAX_ATTEMPTS the row stays "failed"."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        return
    event.error = f"{type(exc).__name__}: {exc}"[:2000]
    event.locked_until = None
    event.state = FAILED if event.attempts >= MAX_ATTEMPTS else RECEIVED
    db.session.commit()
    log.warning("event %s failed (attempt %s): %s", event.id, event.attempts, event.error)


def _record_deferral(event_id: int, exc: CircuitOpen) -> str:
    """The store's circuit is open (or its quota spent): not an attempt. The row goes back to
    "received", stamped so that the relay queues its job again after ``exc.retry_after``."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        return "missing"
    event.state, event.locked_until = RECEIVED, None
    event.attempts = max(0, event.attempts - 1)
    due_in = max(1.0, float(exc.retry_after or 0))
    event.enqueued_at = utcnow() + timedelta(seconds=due_in - RELAY_AFTER_SECONDS)
    event.error = f"deferred: {exc}"[:2000]
    db.session.commit()
    log.info("event %s deferred %.0fs: %s", event_id, due_in, exc)
    return "deferred"


# --- Lifecycle handled here --------------------------------------------------------------


@handles("bigcommerce", "store/app/uninstalled", lifecycle=True)
def merchant_uninstalled(event: WebhookEvent, merchant: Merchant) -> None:
    """Do what the uninstall callback does: state uninstalled, token shredded, audit, notice.

    The delivery is signed by BigCommerce and carries the store's hook secret, and
    uninstalling only ever stops work, so acting on it needs no re-check with the API.
    ``mark_uninstalled`` is idempotent, so the callback and this event may come in any order.
    """
    from portal.bigcommerce import mark_uninstalled

    mark_uninstalled(merchant, f"webhook {event.event_key}")


# --- The relay ---------------------------------------------------------------------------


def job_alive(queue: Queue, job_id: str) -> bool:
    """True while RQ can still run the job: in its queue, scheduled (a retry) or started.

    A job hash alone proves nothing: a Redis crash can keep a "queued" hash whose queue entry
    was lost (the AOF's last second), and RQ would never run it.
    """
    return (
        queue.get_job_position(job_id) is not None
        or job_id in ScheduledJobRegistry(queue=queue)
        or job_id in StartedJobRegistry(queue=queue)
    )


def due_for_relay() -> list[Row]:
    """Unfinished rows (id, enqueued_at, source, scope): never queued, or queued long ago
    (or lease expired)."""
    now = utcnow()
    stmt = (
        select(WebhookEvent.id, WebhookEvent.enqueued_at, WebhookEvent.source, WebhookEvent.scope)
        .where(
            or_(
                WebhookEvent.state == RECEIVED,
                and_(WebhookEvent.state == PROCESSING, WebhookEvent.locked_until < now),
            ),
            or_(
                WebhookEvent.enqueued_at.is_(None),
                WebhookEvent.enqueued_at <= now - timedelta(seconds=RELAY_AFTER_SECONDS),
            ),
        )
        .order_by(WebhookEvent.id)
        .limit(RELAY_BATCH)
    )  # ids only: a payload too deep to load never stops the relay
    return list(db.session.execute(stmt).all())


def relay_inbox() -> int:
    """Queue the processing job of every unfinished row that has none in Redis; returns how many.

    The one relay (run by the clock process every ``INBOX_POLL_SECONDS``). New rows
    (``enqueued_at`` empty) are queued at once; a row queued ``RELAY_AFTER_SECONDS`` ago and
    still unfinished, or whose lease expired, is queued again only if Redis no longer has its
    job (Redis was down, wiped, or lost it in a crash), else checked again that long later. The
    job is written before the row is stamped, so a crash in between costs a duplicate job at
    worst, which the row's state makes a no-op. Raises RedisError when Redis is down.
    """
    rows = due_for_relay()
    if not rows:
        return 0
    now = utcnow()
    queue = get_queue(HIGH)
    settled = _screen([r for r in rows if r.enqueued_at is None], now)
    send = [
        r.id
        for r in rows
        if r.id not in settled
        and (r.enqueued_at is None or not job_alive(queue, event_job_id(r.id)))
    ]
    if send:
        with redis_conn().pipeline(transaction=False) as pipe:
            for event_id in send:
                put_event_job(event_id, pipeline=pipe)
            pipe.execute()
    db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_([r.id for r in rows]))
        .values(enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    resent = len(send) - sum(1 for r in rows if r.enqueued_at is None and r.id not in settled)
    if resent:
        log.warning("relayed %d inbox events whose jobs Redis no longer had", resent)
    return len(send)


def _screen(new_rows: list[Row], now: datetime) -> set[int]:
    """Run the registered screens over new rows; the rows they settle are marked ignored
    (with the screen's reason) in the relay's transaction, and get no job."""
    load_areas()
    ids = [r.id for r in new_rows if (r.source, r.scope) in SCREENS]
    if not ids:
        return set()
    try:
        events = list(db.session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))))
    except RecursionError:  # a payload too deep to load: its job marks it failed
        db.session.rollback()
        return set()
    groups: dict[Screen, list[WebhookEvent]] = {}
    for event in events:
        groups.setdefault(SCREENS[(event.source, event.scope)], []).append(event)
    settled: set[int] = set()
    for screen, group in groups.items():
        reasons = screen(group)
        for event in group:
            if event.id in reasons:
                event.state, event.error = IGNORED, reasons[event.id][:2000]
                event.processed_at, event.attempts = now, 0
                settled.add(event.id)
    return settled
