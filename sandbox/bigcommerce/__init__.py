"""BigCommerce simulator: a spec-faithful fake of the REST API, OAuth and webhooks."""

from .app import create_app
from .config import BCSimConfig
from .state import BCSimState

__all__ = ["BCSimConfig", "BCSimState", "create_app"]
