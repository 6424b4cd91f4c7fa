"""Optional error tracking with Sentry (``SENTRY_DSN``), with secrets scrubbed before sending.

sentry-sdk's Flask and RQ integrations report unhandled errors of web requests and jobs; its
logging integration reports ``log.error``/``log.exception`` lines (the portal's error handler
and the webhook intake log theirs). ``scrub_event`` runs on every event before it leaves:
request bodies (webhook payloads, login forms), cookies and credential headers are dropped,
values under secret-looking keys are replaced, and every remaining string goes through the
log redaction (tokens, JWTs, codes). Local variables are never attached.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from portal.logs import redact

FILTERED = "[Filtered]"
# Keys whose values are never sent, wherever they appear in an event.
_SECRET_KEY = re.compile(
    r"token|secret|passw|authori[sz]ation|cookie|signature|jwt|api[_-]?key|credential|"
    r"private|session|csrf|dsn|^code$|^payload$|^signed_payload|^body$|^data$|^env$",
    re.IGNORECASE,
)
# Values that look like secrets even without a telling key: Fernet tokens (our encrypted
# columns), BigCommerce access tokens, long hex or base64 runs.
_SECRET_VALUE = [
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), "[fernet]"),
    (re.compile(r"\b[a-z0-9]{31}\b"), "[token]"),
    (re.compile(r"\b[A-Fa-f0-9]{24,}\b"), "[hex]"),
    # The whole run, from its first character: ``\b`` would start after a leading "-" (not a
    # word character), and a 32-character urlsafe secret that starts with one escaped.
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}={0,2}"), "[secret]"),
]


def _clean_string(text: str) -> str:
    text = redact(text)
    for pattern, repl in _SECRET_VALUE:
        text = pattern.sub(repl, text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return FILTERED
    if isinstance(value, dict):
        return {
            k: FILTERED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _clean_string(value)
    return value


# Structural fields of an event that hold no user data (scrubbing ids would break grouping).
_KEEP = ("event_id", "timestamp", "platform", "level", "sdk", "release", "environment")


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``before_send``: drop bodies, cookies and credential headers, then scrub everything."""
    req = event.get("request")
    if isinstance(req, dict):
        req.pop("data", None)
        req.pop("cookies", None)
        req.pop("env", None)
        headers = req.get("headers")
        if isinstance(headers, dict):
            req["headers"] = {
                k: v
                for k, v in headers.items()
                if not re.search(r"auth|cookie|signature|secret|token", k, re.IGNORECASE)
            }
    kept = {k: event[k] for k in _KEEP if k in event}
    cleaned = _scrub({k: v for k, v in event.items() if k not in kept})
    trace = (event.get("contexts") or {}).get("trace")
    if isinstance(trace, dict) and isinstance(cleaned.get("contexts"), dict):
        # Trace and span ids are random hex, not secrets; Sentry needs them as they are.
        cleaned["contexts"]["trace"] = {k: trace[k] for k in ("trace_id", "span_id") if k in trace}
    return {**cleaned, **kept}


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return _scrub(crumb)


def init_error_tracking(app: Flask, *, transport: Any = None) -> bool:
    """Start sentry-sdk when ``SENTRY_DSN`` is set; ``transport`` lets tests capture events."""
    dsn = str(app.config.get("SENTRY_DSN") or "")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=str(app.config.get("SENTRY_ENVIRONMENT") or app.config["APP_ENV"]),
        integrations=[FlaskIntegration(), RqIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        **options,
    )
    return True
