"""RQ entry points of the app lifecycle (enqueued by the admin, the CLI and the portal)."""

from __future__ import annotations

from typing import Any

from worker import lifecycle
from worker.runtime import tracked


@tracked
def activate_merchant(merchant_id: int, actor: str) -> dict[str, Any]:
    """Register webhooks, set the merchant active and start its initial sync."""
    return lifecycle.activate(merchant_id, actor)


@tracked
def check_connection(merchant_id: int) -> dict[str, Any]:
    """Check both APIs with the merchant's credentials and store the outcome."""
    return lifecycle.check_connection(merchant_id)


@tracked
def unsubscribe_bindo(merchant_id: int) -> dict[str, Any]:
    """After an uninstall: delete our Bindo webhook subscription for the store."""
    return lifecycle.unsubscribe_bindo(merchant_id)
