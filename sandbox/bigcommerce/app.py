"""Flask factory of the BigCommerce simulator: login service, REST API, control API, pages."""

from __future__ import annotations

from flask import Flask

from . import api, control, pages
from .config import BCSimConfig
from .state import BCSimState


def create_app(config: BCSimConfig | None = None) -> Flask:
    """Build one independent simulator; its state is ``app.extensions["bcsim"]``."""
    app = Flask(__name__)
    app.json.sort_keys = False  # keep BigCommerce's field order readable
    state = BCSimState(config or BCSimConfig())
    app.extensions["bcsim"] = state
    app.register_blueprint(control.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    return app
