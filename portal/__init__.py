"""The portal: a Flask app factory. Nothing connects or raises at import time."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from redis.exceptions import RedisError
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal.config import load_config
from portal.crypto import TokenCipher
from portal.error_tracking import init_error_tracking
from portal.extensions import csrf, db, login_manager, migrate
from portal.logs import RequestIdMiddleware, configure_logging
from portal.security import AreaSessionInterface, add_security_headers, csp_nonce


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the portal app. ``config`` overrides the environment (tests pass their own)."""
    app = Flask(__name__, instance_relative_config=False)
    # Every <int:...> in our URLs is a 32-bit primary key: a larger number is a 404 at routing,
    # not a PostgreSQL "integer out of range" (500, or 503 on the webhook route).
    app.url_map.converters["int"] = Int32Converter
    app.config.update(load_config(config))
    app.session_interface = AreaSessionInterface()
    app.extensions["token_cipher"] = TokenCipher(app.config["TOKEN_ENCRYPTION_KEY"])
    configure_logging(app)

    # Subsystems, in one visible order.
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(app.root_path + "/../migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    from portal import models  # noqa: F401 - register tables with the metadata

    _register_blueprints(app)

    from portal.admin import init_admin

    init_admin(app)

    from portal.cli import register_cli

    register_cli(app)
    _register_errors(app)
    app.before_request(refuse_nul_bytes)
    app.jinja_env.globals["csp_nonce"] = csp_nonce  # <script nonce="{{ csp_nonce() }}">
    app.after_request(lambda response: add_security_headers(app, response))
    # Inside ProxyFix (below), so the id is bound for every layer, the intake included.
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies > 0:
        # Outermost, so every layer (the webhook intake included) sees the client's address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    init_error_tracking(app)
    return app


def refuse_nul_bytes() -> None:
    """No text with a NUL byte reaches the database (PostgreSQL refuses it with an error)."""
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise BadRequest("A field contains a NUL character.")


class Int32Converter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _register_blueprints(app: Flask) -> None:
    from portal.auth import bp as auth_bp
    from portal.health import bp as health_bp
    from portal.site import bp as site_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(site_bp)
    for module_name in (
        "portal.bigcommerce",
        "portal.webhooks",
        "portal.merchant",
        "portal.metrics",
    ):
        # Each area registers itself when present; see docs/architecture.md.
        try:
            module = __import__(module_name, fromlist=["init_app"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.init_app(app)


def _register_errors(app: Flask) -> None:
    log = logging.getLogger("portal.errors")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template(
            "errors/error.html", title=f"{exc.code} {exc.name}", message=exc.description
        ), exc.code

    @app.errorhandler(RedisError)
    def queue_down(exc: RedisError):
        # Nothing is queued for later: the staff member sees it and tries again.
        log.warning("job queue unavailable: %s", exc)
        db.session.rollback()
        return render_template(
            "errors/error.html",
            title="Job queue unavailable",
            message="Redis did not answer, so nothing was queued. Please try again in a minute.",
        ), 503

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled error")
        db.session.rollback()
        return render_template(
            "errors/error.html",
            title="Something went wrong",
            message="The error was logged. Please try again in a moment.",
        ), 500
