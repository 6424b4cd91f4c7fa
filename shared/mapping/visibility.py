"""Online rule: whether a Bindo product belongs on the storefront, and when to say so."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_online(product: Mapping[str, Any]) -> bool:
    """Online iff neither "In Store Only" nor deleted in Bindo."""
    return not product.get("in_store_only") and not product.get("deleted")


def decide_visibility(online_now: bool, online_last_pushed: bool | None) -> bool | None:
    """is_visible to send, or None for "do not send it".

    Sent when nothing was pushed yet (None: on create this is True; for a binding whose
    last flag is unknown it is Bindo's flag, so an offline product is hidden rather than left
    showing) and whenever Bindo's own flag changed since the last push. Otherwise not sent,
    so a product the merchant hid by hand in BigCommerce stays hidden until Bindo's flag
    changes.
    """
    if online_last_pushed is None or online_now != online_last_pushed:
        return online_now
    return None
