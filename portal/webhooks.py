"""Inbound webhooks from BigCommerce and Bindo: verify, store in the inbox, answer.

The answer is 200 only once the event row is committed (the database is the durable copy and
the dedupe authority). The web process touches no Redis: the clock process's relay
(worker/inbox.py ``relay_inbox``) queues each new row's processing job within a fraction of a
second, and again whenever Redis lost it. No API is called here. See docs/webhooks.md.

This is the hottest path of the web process, so it talks to the database through SQLAlchemy
Core on one autocommit connection: a merchant row read and one ``INSERT .. ON CONFLICT DO
NOTHING RETURNING id`` (the insert is its own transaction; a duplicate returns no row). No ORM
session, no BEGIN/COMMIT round trips; bench/bench_intake.py measures it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, has_app_context, request
from sqlalchemy import Connection, Engine, Select, bindparam, create_engine, select
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from portal import metrics
from portal.crypto import decrypt
from portal.extensions import csrf, db
from portal.models import Merchant, MerchantState, WebhookEvent, utcnow
from portal.security import add_security_headers
from portal.signatures import same_secret, verify_bindo, verify_standard_webhook

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY_BYTES = 64 * 1024
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
    merchant_id: int


@dataclass(frozen=True)
class Sender:
    """The few merchant columns a delivery is checked against (read with Core, not the ORM)."""

    id: int
    state: str
    hook_secret_enc: str | None
    bindo_webhook_secret_enc: str | None
    bindo_store_id: str | None
    webhook_auth_path: str | None

    @property
    def hook_secret(self) -> str | None:
        return decrypt(self.hook_secret_enc)

    @property
    def bindo_webhook_secret(self) -> str | None:
        return decrypt(self.bindo_webhook_secret_enc)


# Statements built once: per request only the parameters change (no construction, and the
# compiled form comes straight from SQLAlchemy's cache).
_merchants = Merchant.__table__.c
_SENDER = select(
    _merchants.id,
    _merchants.state,
    _merchants.hook_secret_enc,
    _merchants.bindo_webhook_secret_enc,
    _merchants.bindo_store_id,
    _merchants.webhook_auth_path,
)
SENDER_BY_HASH = _SENDER.where(_merchants.store_hash == bindparam("key"))
SENDER_BY_ID = _SENDER.where(_merchants.id == bindparam("key"))


def _sender(conn: Connection, stmt: Select, key: str | int) -> Sender | None:
    row = conn.execute(stmt, {"key": key}).first()
    return Sender(*row) if row is not None else None


# A sender read in the last second may decide an *acceptance* without a read (the web process
# sees a steady stream of deliveries from the same stores). Every refusal and every drop is
# decided on a fresh read, so a change of secret or a resumed store is never missed; the only
# staleness left is accepting, for at most this long, a delivery for a store another process
# has just paused or uninstalled, and the worker ignores those events when it runs them.
SENDER_CACHE_SECONDS = 1.0
SENDER_CACHE_SIZE = 4096


def _sender_cache() -> dict[tuple[Select, str | int], tuple[float, Sender]]:
    return current_app.extensions.setdefault("webhook_senders", {})


def _decide_with_sender(
    conn: _Connection,
    stmt: Select,
    key: str | int,
    decide: Callable[[Sender | None], Inbound | None],
) -> Inbound | None:
    cache = _sender_cache()
    hit = cache.get((stmt, key))
    if hit is not None and time.monotonic() - hit[0] < SENDER_CACHE_SECONDS:
        with contextlib.suppress(Rejected):
            inbound = decide(hit[1])
            if inbound is not None:
                return inbound
    sender = _sender(conn(), stmt, key)
    if sender is None:
        cache.pop((stmt, key), None)
    else:
        if len(cache) >= SENDER_CACHE_SIZE:
            cache.clear()
        cache[(stmt, key)] = (time.monotonic(), sender)
    return decide(sender)


def forget_senders(*_args: Any) -> None:
    """Drop this process's cached senders (a merchant row changed here)."""
    if has_app_context():
        current_app.extensions.pop("webhook_senders", None)
        current_app.extensions.pop("webhook_auth_recorded", None)


def init_app(app: Flask) -> None:
    # Senders carry no cookies or CSRF token; the signatures are the authentication.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.wsgi_app = IntakeMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]
    for change in ("after_insert", "after_update", "after_delete"):
        if not sa_event.contains(Merchant, change, forget_senders):
            sa_event.listen(Merchant, change, forget_senders)


class IntakeMiddleware:
    """Serves the two webhook routes in front of Flask's request dispatch.

    Deliveries are the web process's hottest path and need none of a page's machinery (request
    context, session, login, CSRF, error pages): this answers them with an app context and a
    plain request object, through the same functions the blueprint routes call. The routes
    stay in the URL map, so routing, 404 and 405 answers are Flask's own.
    """

    ENDPOINTS: dict[str, Callable[..., Response]] = {}

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and str(environ.get("PATH_INFO", "")).startswith(
            bp.url_prefix or "/webhooks"
        ):
            try:
                adapter = self.app.url_map.bind_to_environ(
                    environ, server_name=self.app.config.get("SERVER_NAME")
                )
                endpoint, args = adapter.match()
            except HTTPException:
                endpoint, args = None, {}
            handler = self.ENDPOINTS.get(str(endpoint))
            if handler is not None:
                return self._serve(handler, args, environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _serve(
        self,
        handler: Callable[..., Response],
        args: dict[str, Any],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Any:
        req = self.app.request_class(environ)
        with self.app.app_context():
            try:
                response = handler(req, **args)
            except Exception:  # noqa: BLE001 - a delivery never gets a stack trace
                log.exception("webhook intake failed: %s", req.path)
                response = _answer(500, "error")
            metrics.webhook_answered(req.path, response.status_code, response.get_data())
            add_security_headers(self.app, response, path=req.path)
        return response(environ, start_response)


def _answer(status: int, text: str = "") -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _read_body(req: Request) -> bytes:
    """The raw body, capped at 64 KB whether or not the sender declared its length."""
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise Rejected(413, "too large")
    # Werkzeug then stops reading a stream (also a chunked one) past this many bytes.
    req.max_content_length = MAX_BODY_BYTES
    try:
        body = req.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise Rejected(413, "too large") from exc
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "too large")
    return body


# Real deliveries nest a few levels; a deeper body is refused before it is stored (a row
# nested ~970 levels deep failed at insert and made the worker hit RecursionError).
MAX_JSON_DEPTH = 32


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: the database refuses them


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise Rejected(400, "bad json") from exc
    if not isinstance(data, dict):
        raise Rejected(400, "bad shape")
    _check_storable(data)
    return data


def _check_storable(data: dict[str, Any]) -> None:
    """Refuse (400) what the database would refuse: deep nesting and NUL characters."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_JSON_DEPTH:
                raise Rejected(400, "too deep")
            for key, item in value.items():
                if "\x00" in key:
                    raise Rejected(400, "bad data")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                raise Rejected(400, "too deep")
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            raise Rejected(400, "bad data")


def _tolerance() -> int:
    return int(current_app.config["WEBHOOK_TOLERANCE_SECONDS"])


# --- BigCommerce -------------------------------------------------------------------------


HEADER_AUTH, SIGNED_AUTH = "header", "header+signature"
RECORD_AUTH_EVERY_SECONDS = 60.0
MAX_RECORDED_HEADERS = 40
_SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def _signature_checked(req: Request, body: bytes) -> bool:
    """True for a valid Standard Webhooks signature, False for an unsigned delivery.

    BigCommerce documents the hook's custom headers as what every delivery carries; the
    signature appears only in its sample code (issue 15). A delivery that carries any of the
    signature headers must verify; an unsigned one passes on the custom header alone unless
    BIGCOMMERCE_WEBHOOK_SIGNATURE_REQUIRED is set.
    """
    if not any(req.headers.get(name) for name in _SIGNATURE_HEADERS[1:]):
        if current_app.config.get("BIGCOMMERCE_WEBHOOK_SIGNATURE_REQUIRED"):
            raise Rejected(401, "unauthorized")
        return False
    secret = str(current_app.config.get("BIGCOMMERCE_CLIENT_SECRET") or "").encode()
    if not verify_standard_webhook(
        secret,
        req.headers.get("webhook-id"),
        req.headers.get("webhook-timestamp"),
        req.headers.get("webhook-signature"),
        body,
        tolerance=_tolerance(),
    ):
        raise Rejected(401, "unauthorized")
    return True


def _auth_recorded() -> dict[int, float]:
    return current_app.extensions.setdefault("webhook_auth_recorded", {})


def _record_auth_path(conn: _Connection, merchant: Sender, path: str, req: Request) -> None:
    """Note how this merchant's deliveries authenticate, and their header names (never values).

    Runs only while the stored path differs from this delivery's (the first deliveries, or a
    change), and at most once a minute per merchant and process: no extra round trip in the
    steady state.
    """
    if merchant.webhook_auth_path == path:
        return
    recorded = _auth_recorded()
    now = time.monotonic()
    last = recorded.get(merchant.id)
    if last is not None and now - last < RECORD_AUTH_EVERY_SECONDS:
        return
    recorded[merchant.id] = now
    names = sorted({name.lower()[:64] for name, _value in req.headers.items()})[
        :MAX_RECORDED_HEADERS
    ]
    conn().execute(
        Merchant.__table__.update()
        .where(_merchants.id == merchant.id)
        .values(webhook_auth_path=path, webhook_header_names=names, webhook_auth_seen_at=utcnow())
    )
    _sender_cache().clear()
    log.info("merchant %s: BigCommerce deliveries authenticate by %s", merchant.id, path)


def _bigcommerce_inbound(req: Request, conn: _Connection) -> Inbound | None:
    """Verify and parse a BigCommerce delivery; None means "acknowledge, store nothing"."""
    body = _read_body(req)
    msg_id = req.headers.get("webhook-id")
    signed = _signature_checked(req, body)
    payload = _json_object(body)
    scope, data, producer = payload.get("scope"), payload.get("data"), payload.get("producer")
    if not isinstance(scope, str) or not scope or len(scope) > 64 or not isinstance(data, dict):
        raise Rejected(400, "bad shape")
    match = PRODUCER.match(producer) if isinstance(producer, str) else None
    if match is None:
        raise Rejected(400, "bad shape")
    custom = req.headers.get("X-Bindo-Hook-Secret")

    def decide(merchant: Sender | None) -> Inbound | None:
        if merchant is None:
            raise Rejected(401, "unauthorized")
        if not same_secret(custom, merchant.hook_secret):
            # An uninstalled store's hook secret may already be shredded; its late events are
            # still signed by BigCommerce, so they are acknowledged and dropped (T15).
            if (
                signed
                and merchant.hook_secret_enc is None
                and merchant.state == MerchantState.UNINSTALLED
            ):
                return None
            raise Rejected(401, "unauthorized")
        if merchant.state in DORMANT_STATES and not (
            scope == UNINSTALL_SCOPE and merchant.state != MerchantState.UNINSTALLED
        ):
            return None
        _record_auth_path(conn, merchant, SIGNED_AUTH if signed else HEADER_AUTH, req)
        key = _bigcommerce_key(msg_id if signed else None, payload)
        return Inbound(BIGCOMMERCE, key, scope, payload, merchant.id)

    return _decide_with_sender(conn, SENDER_BY_HASH, match.group(1), decide)


def _bigcommerce_key(msg_id: str | None, payload: dict[str, Any]) -> str:
    """A signed ``webhook-id`` is stable across re-sends. Without one, BigCommerce's ``hash``
    (same on a re-fired event) plus ``created_at`` (so two changes of one object with the same
    thin ``data`` stay two events) is the key."""
    if msg_id:
        return msg_id
    return f"{payload['scope']}:{payload.get('hash')}:{payload.get('created_at')}"[:128]


def receive_bigcommerce(req: Request) -> Response:
    return _receive(req, lambda conn: _bigcommerce_inbound(req, conn))


@bp.post("/bigcommerce")
def bigcommerce() -> Response:
    return receive_bigcommerce(request)


# --- Bindo -------------------------------------------------------------------------------


def _bindo_inbound(req: Request, conn: _Connection, merchant_id: int) -> Inbound | None:
    body = _read_body(req)
    signature = req.headers.get("Bindo-Signature")

    def decide(merchant: Sender | None) -> Inbound | None:
        secret = merchant.bindo_webhook_secret if merchant is not None else None
        # Unknown merchant, no secret and a bad signature all get the same answer.
        if merchant is None or not secret:
            raise Rejected(401, "unauthorized")
        if not verify_bindo(secret, signature, body, tolerance=_tolerance()):
            raise Rejected(401, "unauthorized")
        payload = _json_object(body)
        event_id, event_type = payload.get("id"), payload.get("type")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
            raise Rejected(400, "bad shape")
        if not isinstance(event_type, str) or not 0 < len(event_type) <= 64:
            raise Rejected(400, "bad shape")
        if not isinstance(payload.get("data"), dict):
            raise Rejected(400, "bad shape")
        header_id = req.headers.get("Bindo-Event-Id")
        if header_id is not None and header_id != event_id:
            # The header is not signed; the body is. A mismatch is a tampered or broken request.
            raise Rejected(400, "bad shape")
        store_id = payload.get("store_id")
        if store_id is None or str(store_id) != (merchant.bindo_store_id or ""):
            raise Rejected(401, "unauthorized")
        if merchant.state in DORMANT_STATES:
            return None
        return Inbound(BINDO, event_id, event_type, payload, merchant.id)

    return _decide_with_sender(conn, SENDER_BY_ID, merchant_id, decide)


@bp.post("/bindo/<int:merchant_id>")
def bindo(merchant_id: int) -> Response:
    return receive_bindo(request, merchant_id)


def receive_bindo(req: Request, merchant_id: int) -> Response:
    return _receive(req, lambda conn: _bindo_inbound(req, conn, merchant_id))


IntakeMiddleware.ENDPOINTS.update(
    {"webhooks.bigcommerce": receive_bigcommerce, "webhooks.bindo": receive_bindo}
)


# --- The shared tail: inbox row, commit, answer -------------------------------------------


def intake_engine() -> Engine:
    """The app's intake engine: the same database, connections held by threads, no pool.

    Held connections never come out of the app's pool (a server that starts a thread per
    request would drain it); a thread's connection is closed when the thread ends.
    """
    ext = current_app.extensions
    engine = ext.get("intake_engine")
    if engine is None:
        engine = ext["intake_engine"] = create_engine(db.engine.url, poolclass=NullPool)
    return engine


class _Connection:
    """The thread's intake connection, opened on first use (a request refused before any
    lookup opens none).

    Each web thread keeps one autocommit connection for good, outside any pool's
    checkout/ping/return cycle, which cost more than the two statements a delivery runs. Each
    statement is its own transaction (no BEGIN/COMMIT round trips). A connection that fails is
    dropped; ``_receive`` then tries once more on a new one, so a database restart costs no
    delivery (the insert is idempotent: a retry after a lost answer finds the row).
    """

    _local = threading.local()

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self.reused = False

    @classmethod
    def _held(cls) -> dict[Engine, Connection]:
        local = cls._local
        if getattr(local, "pid", None) != os.getpid():  # never use a parent's socket
            local.pid, local.conns = os.getpid(), {}
        return local.conns

    def __call__(self) -> Connection:
        if self._conn is None:
            engine = intake_engine()
            held = self._held()
            conn = held.get(engine)
            self.reused = conn is not None and not conn.closed and not conn.invalidated
            if not self.reused:
                conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                held[engine] = conn
            self._conn = conn
        return self._conn

    def discard(self) -> None:
        """Drop this thread's connection after an error (the next use opens a new one)."""
        if self._conn is None:
            return
        held = self._held()
        for engine, conn in list(held.items()):
            if conn is self._conn:
                del held[engine]
        with contextlib.suppress(Exception):
            self._conn.invalidate()
        self._conn = None


def _receive(req: Request, parse: Callable[[_Connection], Inbound | None]) -> Response:
    conn = _Connection()
    for attempt in (1, 2):
        try:
            inbound = parse(conn)
            if inbound is None:
                return _answer(200, "ignored")
            _store(conn(), inbound)
            break
        except Rejected as exc:
            if exc.status == 401:
                log.warning("webhook rejected (%s): %s", req.path, exc.reason)
            return _answer(exc.status, exc.reason)
        except DataError:
            # The database refused a value (out of range, bad text): the same body would fail
            # on every retry, so the sender is told 400, not 503.
            conn.discard()
            log.warning("webhook refused by the database as bad data (%s)", req.path)
            return _answer(400, "bad data")
        except SQLAlchemyError:
            stale = conn.reused and attempt == 1
            conn.discard()
            if stale:
                log.info("webhook intake: reconnecting to the database")
                continue
            # Never 200 without a committed row: the sender retries a 5xx.
            log.exception("webhook not stored: database unavailable")
            return _answer(503, "unavailable")
    return _answer(200, "ok")


_events = WebhookEvent.__table__
_INBOX_COLUMNS = ("source", "event_key", "scope", "payload", "merchant_id", "state", "attempts",
                  "received_at", "enqueued_at")  # fmt: skip
_INBOX_VALUES = {name: bindparam(name, type_=_events.c[name].type) for name in _INBOX_COLUMNS}
# Only the dedupe key's conflict means "a duplicate"; any other violation still raises.
_INSERT_NEW = {
    name: dialect.insert(_events)
    .values(_INBOX_VALUES)
    .on_conflict_do_nothing(index_elements=["source", "event_key"])
    .returning(_events.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _store(conn: Connection, inbound: Inbound) -> int | None:
    """Insert the inbox row; the new row's id, or None for a duplicate delivery."""
    now = utcnow()
    values = {
        "source": inbound.source,
        "event_key": inbound.event_key,
        "scope": inbound.scope,
        "payload": inbound.payload,
        "merchant_id": inbound.merchant_id,
        "state": "received",
        "attempts": 0,
        "received_at": now,
        # Stamped by the relay when it queues the row's processing job.
        "enqueued_at": None,
    }
    # PostgreSQL and SQLite are the two databases the portal runs on (docs/architecture.md).
    return conn.execute(_INSERT_NEW[conn.dialect.name], values).scalar()
