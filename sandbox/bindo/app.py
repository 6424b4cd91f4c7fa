"""Application factory of the Bindo POS simulator."""

from __future__ import annotations

from flask import Flask

from sandbox.bindo import api, control, pages
from sandbox.bindo.config import BindoSimConfig
from sandbox.bindo.state import SimState


def create_app(config: BindoSimConfig | None = None) -> Flask:
    """A fresh simulator; its state is ``app.extensions["bindosim"]`` (a ``SimState``)."""
    config = config or BindoSimConfig()
    app = Flask(__name__)
    app.json.sort_keys = False  # keep documented field order in responses
    state = SimState(config)
    app.extensions["bindosim"] = state
    app.extensions["bindosim_ratelimit"] = api.RateLimiter(
        config.rate_limit_per_minute, config.rate_limit_window
    )
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    app.register_error_handler(404, _json_or_html_error)
    app.register_error_handler(405, _json_or_html_error)
    return app


def _json_or_html_error(exc):
    """API clients get the documented JSON error shape even for unknown routes."""
    from flask import jsonify, request

    if request.path.startswith(("/api/", "/_sim/")):
        code = "not_found" if exc.code == 404 else "method_not_allowed"
        return jsonify({"error": {"code": code, "message": exc.description}}), exc.code
    return exc
