"""RQ entry points that refresh the stores' lists (categories, locations) for the portal."""

from __future__ import annotations

from typing import Any

from worker.context import load_merchant
from worker.runtime import tracked
from worker.sync import store_lists


@tracked
def refresh_categories(merchant_id: int) -> dict[str, int]:
    """The merchant's category dropdown: the default tree, read through the store's pacing."""
    return store_lists.refresh_categories(load_merchant(merchant_id, require_active=False))


@tracked
def refresh_locations(merchant_id: int) -> dict[str, Any]:
    """The staff location form: Bindo's and BigCommerce's location lists."""
    return store_lists.refresh_locations(load_merchant(merchant_id, require_active=False))
