"""Security headers, per-area session cookies, and safe redirects."""

from __future__ import annotations

from urllib.parse import urljoin, urlparse

from flask import Flask, Request, Response, request
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


def add_security_headers(app: Flask, response: Response, path: str | None = None) -> Response:
    path = request.path if path is None else path
    csp = (
        "default-src 'self'; img-src 'self' data: http: https:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
        f"frame-ancestors {frame_ancestors(app, path)}; base-uri 'self'; form-action 'self'"
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
