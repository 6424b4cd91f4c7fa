"""Logging with secrets redacted: tokens, JWTs, codes and keys never reach a log line.

``LOG_FORMAT=json`` writes one JSON object per line with the request id (web), job id
(worker), merchant id and store hash when known; the readable format stays the default.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from flask import Flask

_PATTERNS = [
    # JWTs (three base64url segments)
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    # query/form values of sensitive names
    (
        re.compile(
            r"((?:signed_payload_jwt|signed_payload|code|access_token|token|secret|password"
            r"|client_secret)=)[^&\s\"']+",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
    (
        re.compile(r"(X-Auth-Token['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE),
        r"\1[redacted]",
    ),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # Tracebacks and stacks carry exception text (URLs, SQL parameters): redact them too.
        # Formatters reuse a set ``exc_text`` instead of formatting ``exc_info`` again.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction() -> None:
    """Attach the filter to every handler of the root logger and werkzeug's."""
    for name in ("", "werkzeug", "gunicorn.access", "gunicorn.error", "rq.worker"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


# -- context carried into every log line ------------------------------------------------------

CONTEXT_FIELDS = ("request_id", "job_id", "merchant", "store_hash")
_context: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039 - never mutated


def bind_log_context(**fields: Any) -> Token[dict[str, Any]]:
    """Add fields to the log context of this thread or task; ``reset_log_context`` undoes it."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def reset_log_context(token: Token[dict[str, Any]]) -> None:
    _context.reset(token)


def log_context() -> dict[str, Any]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Copies the log context onto the record (a field set on the record itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) in (None, "-"):
                setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (after RedactingFilter has cleaned message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, "-"):
                data[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str)


READABLE = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    json_lines = str(app.config.get("LOG_FORMAT", "text")).lower() == "json"
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=READABLE)
    if json_lines:
        # Only the plain console handlers (basicConfig's, gunicorn's): never a test harness's.
        for handler in root.handlers:
            if type(handler) is logging.StreamHandler and handler.stream in (
                sys.stderr,
                sys.stdout,
            ):
                handler.setFormatter(JsonFormatter())
    install_redaction()
    for handler in root.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when sane), logs it and returns
    it in the ``X-Request-ID`` response header."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        given = str(environ.get("HTTP_X_REQUEST_ID", ""))
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        environ["bindo.request_id"] = request_id

        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, *args)

        token = bind_log_context(request_id=request_id)
        try:
            return self.wsgi_app(environ, start)
        finally:
            reset_log_context(token)
