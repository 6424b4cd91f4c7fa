"""Inbound webhooks from BigCommerce and Bindo: verify, store in the inbox, answer, enqueue.

The answer is 200 only once the event row is committed (the database is the durable copy and
the dedupe authority); the job is enqueued afterwards and, if Redis is down, the worker's relay
enqueues it later. No API is called here. See docs/webhooks.md.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from portal.extensions import csrf, db
from portal.models import Merchant, MerchantState, WebhookEvent, merchant_by_hash, utcnow
from portal.queue import HIGH, make_job_id, put_on_queue
from portal.signatures import same_secret, verify_bindo, verify_standard_webhook

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY_BYTES = 64 * 1024
PROCESS_JOB = "worker.jobs.inbox.process_event"
BIGCOMMERCE, BINDO = "bigcommerce", "bindo"
UNINSTALL_SCOPE = "store/app/uninstalled"
PRODUCER = re.compile(r"^stores/([a-z0-9]+)$")
# Events for these merchants are acknowledged and dropped: no work may follow from them.
DORMANT_STATES = frozenset({MerchantState.UNINSTALLED.value, MerchantState.PAUSED.value})


class Rejected(Exception):
    """The request is answered with ``status`` and a one-word body, and nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Inbound:
    """A verified, well-formed event ready for the inbox."""

    source: str
    event_key: str
    scope: str
    payload: dict[str, Any]
    merchant: Merchant


def init_app(app: Flask) -> None:
    # Senders carry no cookies or CSRF token; the signatures are the authentication.
    csrf.exempt(bp)
    app.register_blueprint(bp)


def _answer(status: int, text: str = "") -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _read_body() -> bytes:
    """The raw body, capped at 64 KB whether or not the sender declared its length."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Rejected(413, "too large")
    # Werkzeug then stops reading a stream (also a chunked one) past this many bytes.
    request.max_content_length = MAX_BODY_BYTES
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise Rejected(413, "too large") from exc
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "too large")
    return body


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise Rejected(400, "bad json") from exc
    if not isinstance(data, dict):
        raise Rejected(400, "bad shape")
    return data


def _tolerance() -> int:
    return int(current_app.config.get("WEBHOOK_TOLERANCE_SECONDS", 300))


# --- BigCommerce -------------------------------------------------------------------------


def _bigcommerce_inbound() -> Inbound | None:
    """Verify and parse a BigCommerce delivery; None means "acknowledge, store nothing"."""
    body = _read_body()
    msg_id = request.headers.get("webhook-id")
    secret = str(current_app.config.get("BIGCOMMERCE_CLIENT_SECRET") or "").encode()
    if not verify_standard_webhook(
        secret,
        msg_id,
        request.headers.get("webhook-timestamp"),
        request.headers.get("webhook-signature"),
        body,
        tolerance=_tolerance(),
    ):
        raise Rejected(401, "unauthorized")
    payload = _json_object(body)
    scope, data, producer = payload.get("scope"), payload.get("data"), payload.get("producer")
    if not isinstance(scope, str) or not scope or len(scope) > 64 or not isinstance(data, dict):
        raise Rejected(400, "bad shape")
    match = PRODUCER.match(producer) if isinstance(producer, str) else None
    if match is None:
        raise Rejected(400, "bad shape")
    merchant = merchant_by_hash(match.group(1))
    if merchant is None:
        raise Rejected(401, "unauthorized")
    custom = request.headers.get("X-Bindo-Hook-Secret")
    if not same_secret(custom, merchant.hook_secret):
        # An uninstalled store's hook secret may already be shredded; its late events are
        # still signed by BigCommerce, so they are acknowledged and dropped (T15).
        if merchant.hook_secret_enc is None and merchant.state == MerchantState.UNINSTALLED:
            return None
        raise Rejected(401, "unauthorized")
    if merchant.state in DORMANT_STATES and not (
        scope == UNINSTALL_SCOPE and merchant.state != MerchantState.UNINSTALLED
    ):
        return None
    return Inbound(BIGCOMMERCE, _bigcommerce_key(msg_id, payload), scope, payload, merchant)


def _bigcommerce_key(msg_id: str | None, payload: dict[str, Any]) -> str:
    """``webhook-id`` is stable across re-sends; BigCommerce's ``hash`` is the fallback."""
    if msg_id:
        return msg_id
    return f"{payload['scope']}:{payload.get('hash')}"[:128]


@bp.post("/bigcommerce")
def bigcommerce() -> Response:
    return _receive(_bigcommerce_inbound)


# --- Bindo -------------------------------------------------------------------------------


def _bindo_inbound(merchant_id: int) -> Inbound | None:
    body = _read_body()
    merchant = db.session.get(Merchant, merchant_id)
    secret = merchant.bindo_webhook_secret if merchant is not None else None
    # Unknown merchant, no secret and a bad signature all get the same answer.
    if merchant is None or not secret:
        raise Rejected(401, "unauthorized")
    if not verify_bindo(
        secret, request.headers.get("Bindo-Signature"), body, tolerance=_tolerance()
    ):
        raise Rejected(401, "unauthorized")
    payload = _json_object(body)
    event_id, event_type = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
        raise Rejected(400, "bad shape")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 64:
        raise Rejected(400, "bad shape")
    if not isinstance(payload.get("data"), dict):
        raise Rejected(400, "bad shape")
    header_id = request.headers.get("Bindo-Event-Id")
    if header_id is not None and header_id != event_id:
        # The header is not signed; the body is. A mismatch is a tampered or broken request.
        raise Rejected(400, "bad shape")
    store_id = payload.get("store_id")
    if store_id is None or str(store_id) != (merchant.bindo_store_id or ""):
        raise Rejected(401, "unauthorized")
    if merchant.state in DORMANT_STATES:
        return None
    return Inbound(BINDO, event_id, event_type, payload, merchant)


@bp.post("/bindo/<int:merchant_id>")
def bindo(merchant_id: int) -> Response:
    return _receive(lambda: _bindo_inbound(merchant_id))


# --- The shared tail: inbox row, commit, answer, enqueue ----------------------------------


def _receive(parse) -> Response:
    try:
        inbound = parse()
        if inbound is None:
            return _answer(200, "ignored")
        event_id = _store(inbound)
    except Rejected as exc:
        db.session.rollback()
        if exc.status == 401:
            log.warning("webhook rejected (%s): %s", request.path, exc.reason)
        return _answer(exc.status, exc.reason)
    except SQLAlchemyError:
        # Never 200 without a committed row: the sender retries a 5xx.
        db.session.rollback()
        log.exception("webhook not stored: database unavailable")
        return _answer(503, "unavailable")
    if event_id is not None:
        _enqueue(event_id)
    return _answer(200, "ok")


def _store(inbound: Inbound) -> int | None:
    """Commit the inbox row; the new row's id, or None for a duplicate delivery."""
    event = WebhookEvent(
        source=inbound.source,
        event_key=inbound.event_key,
        scope=inbound.scope,
        payload=inbound.payload,
        merchant_id=inbound.merchant.id,
        state="received",
        # Stamped in the same commit (one transaction per delivery); cleared again if Redis
        # refuses the job, so the relay picks the row up at once.
        enqueued_at=utcnow(),
    )
    db.session.add(event)
    try:
        db.session.flush()
        # Read before the commit expires it: a reload would cost another round trip.
        event_id = event.id
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if _exists(inbound.source, inbound.event_key):
            return None
        raise
    return event_id


def _exists(source: str, event_key: str) -> bool:
    stmt = select(WebhookEvent.id).where(
        WebhookEvent.source == source, WebhookEvent.event_key == event_key
    )
    return db.session.scalar(stmt) is not None


def _enqueue(event_id: int) -> None:
    """Best effort after the commit: the relay covers Redis (or a late DB) failure.

    The event row is the job's tracking row, so no JobRecord is written for it.
    """
    try:
        put_on_queue(PROCESS_JOB, event_id, queue=HIGH, job_id=make_job_id("evt", event_id))
    except Exception:  # noqa: BLE001 - the row is durable; the relay enqueues it later
        log.warning("event %s stored but not enqueued; the relay will", event_id, exc_info=True)
        try:
            db.session.execute(
                update(WebhookEvent).where(WebhookEvent.id == event_id).values(enqueued_at=None)
            )
            db.session.commit()
        except Exception:  # noqa: BLE001 - then the relay's 60 s re-send rule covers it
            db.session.rollback()
