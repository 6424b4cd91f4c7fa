"""The inbox dispatcher: handler registry, event processing, and the relay that re-enqueues.

Areas register handlers in their own modules with ``@handles(source, *scopes)``; those modules
are imported lazily here, so the inbox does not depend on any area being present. The event
row is the dedupe authority: a processed or ignored row is never handled again, and a lease
("processing" + ``locked_until``) keeps two runs of one event from overlapping.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import defer

from portal.extensions import db
from portal.models import Merchant, WebhookEvent, utcnow
from portal.queue import (
    event_job_id,
    inbox_dispatch_key,
    live_status,
    put_event_job,
    redis_conn,
)
from worker.clients.errors import CircuitOpen
from worker.context import MerchantInactive
from worker.periodic import periodic

log = logging.getLogger(__name__)

Handler = Callable[[WebhookEvent, Merchant], None]
HANDLERS: dict[tuple[str, str], Handler] = {}
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
# A row enqueued this long ago and still "received" is checked against Redis by the relay.
RELAY_AFTER_SECONDS = 60
# A row never enqueued gets this long for the web process to enqueue it itself.
RELAY_GRACE_SECONDS = 5
RELAY_BATCH = 500
DISPATCH_MAX_BATCHES = 20


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
        _record_deferral(event.id, exc)
        raise  # @tracked re-schedules the job after exc.retry_after
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


def _record_deferral(event_id: int, exc: CircuitOpen) -> None:
    """The store's circuit is open: not an attempt, and the relay must wait with the job."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        return
    event.state, event.locked_until = RECEIVED, None
    event.attempts = max(0, event.attempts - 1)
    # The deferred job carries another id; stamping its due time keeps the relay from
    # sending a second copy into the open circuit before then.
    event.enqueued_at = utcnow() + timedelta(seconds=max(1.0, float(exc.retry_after or 0)))
    event.error = f"deferred: {exc}"[:2000]
    db.session.commit()


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


def dispatch(signalled: bool) -> int:
    """Run by each processing job as it starts: queue the jobs of rows stored meanwhile.

    The web process only signals that rows arrived (portal/webhooks.py ``_enqueue``): the
    delivery that sets the dispatch-pending key queues its own row's job with ``signalled``,
    and that job dispatches whatever happens to the key (it may have expired while the job
    waited). Any other job that finds the key takes it (DELETE says who got it) and dispatches
    sooner. An idle system so runs one job per event. A failure here never costs the job's
    own event: rows left unqueued are the relay's. Returns how many jobs were queued.
    """
    try:
        # Rows stored from now on signal a new dispatch.
        if not redis_conn().delete(inbox_dispatch_key()) and not signalled:
            return 0
        return _queue_unqueued()
    except Exception:  # noqa: BLE001 - the rows are durable; the relay queues them
        db.session.rollback()
        log.warning("inbox dispatch failed; the relay will queue those rows", exc_info=True)
        return 0


def dispatch_received() -> int:
    """Queue the processing job of every received row that has none yet; returns how many.

    The ``dispatch_received`` job: queued by a delivery whose row a running dispatch claimed
    first (rare: portal/webhooks.py ``_enqueue``), and by web processes of the release before
    processing jobs dispatched themselves (``dispatch``).
    """
    redis_conn().delete(inbox_dispatch_key())  # rows stored from now on signal a new dispatch
    return _queue_unqueued()


def _queue_unqueued() -> int:
    """Claim the received rows that have no job yet and write their jobs; returns how many.

    Rows are claimed (``enqueued_at`` set where it is still empty) before their jobs are
    written, so two dispatches never queue one row twice; rows whose jobs Redis refuses are
    handed back to the relay (and the RedisError is raised).
    """
    sent = 0
    # Bounded, so a steady stream cannot keep one job running into its timeout: rows stored
    # meanwhile have signalled the next dispatch, and the relay covers anything left.
    for _ in range(DISPATCH_MAX_BATCHES):
        ids = list(
            db.session.scalars(
                select(WebhookEvent.id)
                .where(WebhookEvent.state == RECEIVED, WebhookEvent.enqueued_at.is_(None))
                .order_by(WebhookEvent.id)
                .limit(RELAY_BATCH)
            )
        )
        if not ids:
            break
        claimed = list(
            db.session.scalars(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_(ids), WebhookEvent.enqueued_at.is_(None))
                .values(enqueued_at=utcnow())
                .returning(WebhookEvent.id)
                .execution_options(synchronize_session=False)
            )
        )
        db.session.commit()
        try:
            with redis_conn().pipeline(transaction=False) as pipe:
                for event_id in sorted(claimed):
                    put_event_job(event_id, pipeline=pipe)
                pipe.execute()
        except RedisError:
            db.session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_(claimed))
                .values(enqueued_at=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            raise
        sent += len(claimed)
    return sent


def send_event(event_id: int, merchant_id: int | None) -> bool:
    """Enqueue the processing job and stamp ``enqueued_at``; False when Redis is down.

    The event row is the job's tracking row, so no JobRecord is written for it.
    """
    try:
        put_event_job(event_id)
    except RedisError:
        return False
    db.session.execute(
        update(WebhookEvent).where(WebhookEvent.id == event_id).values(enqueued_at=utcnow())
    )
    db.session.commit()
    return True


def _job_alive(event_id: int) -> bool:
    """True while the event's job can still run (a phantom left by a Redis crash cannot)."""
    return live_status(event_job_id(event_id)) is not None


def due_for_relay() -> list[WebhookEvent]:
    """Rows that should be queued but may not be: never enqueued, stale, or lease expired."""
    now = utcnow()
    stmt = (
        select(WebhookEvent)
        .where(
            or_(
                and_(
                    WebhookEvent.state == RECEIVED,
                    or_(
                        and_(
                            WebhookEvent.enqueued_at.is_(None),
                            WebhookEvent.received_at
                            <= now - timedelta(seconds=RELAY_GRACE_SECONDS),
                        ),
                        WebhookEvent.enqueued_at <= now - timedelta(seconds=RELAY_AFTER_SECONDS),
                    ),
                ),
                and_(WebhookEvent.state == PROCESSING, WebhookEvent.locked_until < now),
            )
        )
        .order_by(WebhookEvent.id)
        .limit(RELAY_BATCH)
        # The relay needs ids only; a payload too deep to load must not stop it.
        .options(defer(WebhookEvent.payload))
    )
    return list(db.session.scalars(stmt))


@periodic
def relay_inbox() -> None:
    """Enqueue every unfinished inbox row whose job is not in Redis (down, wiped, or lost)."""
    sent = 0
    for event in due_for_relay():
        try:
            if _job_alive(event.id):
                continue
            if not send_event(event.id, event.merchant_id):
                break  # Redis is down: the next tick tries again
        except RedisError:
            log.warning("relay paused: Redis unavailable")
            break
        sent += 1
    if sent:
        log.info("relayed %d inbox events", sent)
