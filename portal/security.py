"""Security headers, per-area session cookies, and safe redirects."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urljoin, urlparse

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

# The merchant's app pages render inside the BigCommerce control-panel iframe.
MERCHANT_PREFIX = "/app"
CALLBACK_PREFIX = "/bigcommerce"
# Signed machine-to-machine deliveries: no cookie is read or written there.
WEBHOOK_PREFIX = "/webhooks/"


def is_merchant_area(path: str) -> bool:
    return path.startswith(MERCHANT_PREFIX) or path.startswith(CALLBACK_PREFIX)


class AreaSessionInterface(SecureCookieSessionInterface):
    """Staff pages use a Lax cookie; the iframe app uses its own SameSite=None, Partitioned one.

    Two cookies keep a staff login and a merchant app session apart even in one browser.
    """

    def _merchant(self) -> bool:
        try:
            return is_merchant_area(request.path)
        except RuntimeError:  # outside a request
            return False

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(WEBHOOK_PREFIX):
            # A null session is never saved: the hot intake path skips the cookie work.
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_name(self, app: Flask) -> str:
        return "bc_app_session" if self._merchant() else app.config["SESSION_COOKIE_NAME"]

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if self._merchant() else app.config["SESSION_COOKIE_SAMESITE"]

    def get_cookie_secure(self, app: Flask) -> bool:
        # SameSite=None is only honoured on Secure cookies.
        return True if self._merchant() else app.config["SESSION_COOKIE_SECURE"]

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return self._merchant()


def frame_ancestors(app: Flask, path: str) -> str:
    if is_merchant_area(path):
        return app.config["BIGCOMMERCE_FRAME_ANCESTORS"]
    return "'none'"


def csp_nonce() -> str:
    """This response's script nonce (one per request; Flask-Admin's templates ask for it too)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# Flask-Admin's templates carry a few inline event handlers (nonces cannot cover those): the
# filter menu's onclick="return false;", each bulk action's menu item and the row delete
# button. Exactly these handler texts are allowed, by hash ('unsafe-hashes').
FIXED_HANDLERS = (
    "return false;",
    "return faHelpers.safeConfirm('Are you sure you want to delete this record?');",
)


def allow_admin_handlers(app: Flask, action_names: list[str]) -> None:
    """Record the hashes of Flask-Admin's inline handlers for this app's bulk actions."""
    sources = [*FIXED_HANDLERS, *(f"return modelActions.execute('{n}');" for n in action_names)]
    app.extensions["csp_handler_hashes"] = " ".join(dict.fromkeys(map(_hash, sources)))


def image_sources(app: Flask) -> str:
    """https images only; outside production also the simulators' http origins (the demo)."""
    sources = ["'self'", "data:", "https:"]
    if app.config.get("APP_ENV") != "production":
        for key in ("BIGCOMMERCE_API_URL", "BINDO_API_URL"):
            url = urlparse(str(app.config.get(key) or ""))
            if url.scheme == "http" and url.netloc:
                sources.append(f"http://{url.netloc}")
    return " ".join(dict.fromkeys(sources))


def add_security_headers(app: Flask, response: Response, path: str | None = None) -> Response:
    path = request.path if path is None else path
    # No 'unsafe-inline' scripts: inline scripts need this response's nonce.
    nonce = g.get("csp_nonce")
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    handlers = app.extensions.get("csp_handler_hashes")
    if handlers:
        scripts += f" 'unsafe-hashes' {handlers}"
    csp = (
        f"default-src 'self'; img-src {image_sources(app)}; "
        f"style-src 'self' 'unsafe-inline'; script-src {scripts}; "
        f"frame-ancestors {frame_ancestors(app, path)}; base-uri 'self'; form-action 'self'; "
        "object-src 'none'"
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The load callback carries a JWT in its URL: never leak it through Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not is_merchant_area(path):
        response.headers["X-Frame-Options"] = "DENY"
    return response


def safe_next(target: str | None, default: str) -> str:
    """Only same-host, http(s) relative targets are followed (no //evil, no javascript:)."""
    if not target:
        return default
    target = target.strip().replace("\\", "/")
    host_url = request.host_url
    joined = urlparse(urljoin(host_url, target))
    if joined.scheme not in {"http", "https"} or joined.netloc != urlparse(host_url).netloc:
        return default
    if target.startswith("//") or not target.startswith("/"):
        return default
    return target
