"""The stores' own lists, read through the paced clients and stored for the portal's forms.

The portal never calls an API while rendering a page: the merchant's category dropdown reads
CategoryCache rows (with labels) and the staff location form reads ``known_locations``; these
functions refresh them. A category read goes through the store's shared request pacing, so a
dropdown never competes with (or gets 429 during) a resync.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import CategoryCache, Merchant, MerchantState, utcnow
from worker.clients.errors import ApiError, Unauthorized
from worker.context import bc_client, mark_needs_reauth
from worker.lifecycle import bindo_api
from worker.sync.categories import path_key

log = logging.getLogger(__name__)
LABEL_SEPARATOR = " / "
MAX_LABEL = 512  # CategoryCache.label length
# Merchants whose BigCommerce token is usable (installed, active or paused).
READABLE_STATES = frozenset(
    {MerchantState.INSTALLED.value, MerchantState.ACTIVE.value, MerchantState.PAUSED.value}
)


def _readable(merchant: Merchant) -> bool:
    return merchant.state in READABLE_STATES and merchant.access_token_enc is not None


def category_paths(rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Each category's names from the root down (cycles and orphans end the walk)."""
    by_id = {int(r["category_id"]): r for r in rows}
    paths: dict[int, list[str]] = {}
    for cid, row in by_id.items():
        names, seen = [str(row.get("name", ""))], {cid}
        parent = int(row.get("parent_id") or 0)
        while parent in by_id and parent not in seen:
            seen.add(parent)
            names.insert(0, str(by_id[parent].get("name", "")))
            parent = int(by_id[parent].get("parent_id") or 0)
        paths[cid] = names
    return paths


def refresh_categories(merchant: Merchant) -> dict[str, int]:
    """Read the default tree (2 paced requests) and make CategoryCache match it, labelled.

    Rows whose category no longer exists are dropped (the sync would meet a 409 on them);
    two categories whose paths normalise alike keep the lower id, as the resolver would.
    """
    if not _readable(merchant):
        return {"skipped": 1}
    client = bc_client(merchant)
    try:
        tree_id = client.get_default_tree_id()
        rows = list(client.iter_categories(tree_id)) if tree_id is not None else []
    except Unauthorized as exc:
        mark_needs_reauth(merchant, exc)
        raise
    wanted: dict[str, tuple[int, str]] = {}
    for cid, names in sorted(category_paths(rows).items()):
        wanted.setdefault(path_key(names), (cid, LABEL_SEPARATOR.join(names)[:MAX_LABEL]))
    existing = {
        row.path_key: row
        for row in db.session.scalars(
            select(CategoryCache).where(CategoryCache.merchant_id == merchant.id)
        )
    }
    added = updated = dropped = 0
    for key, row in existing.items():
        if key not in wanted:
            db.session.delete(row)
            dropped += 1
        elif (row.bc_category_id, row.label) != wanted[key]:
            row.bc_category_id, row.label = wanted[key]
            updated += 1
    for key, (cid, label) in wanted.items():
        if key not in existing:
            db.session.add(
                CategoryCache(
                    merchant_id=merchant.id, path_key=key, bc_category_id=cid, label=label
                )
            )
            added += 1
    merchant.categories_refreshed_at = utcnow()
    db.session.commit()
    counts = {"categories": len(wanted), "added": added, "updated": updated, "dropped": dropped}
    log.info("store %s: category list refreshed %s", merchant.store_hash, counts)
    return counts


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def refresh_locations(merchant: Merchant) -> dict[str, Any]:
    """Both stores' location lists into ``merchant.known_locations`` (errors noted per side)."""
    lists: dict[str, Any] = {"bindo": [], "bigcommerce": [], "errors": {}}
    if merchant.bindo_credentials:
        try:
            lists["bindo"] = [
                {"id": int(loc["id"]), "name": str(loc.get("name") or loc["id"])}
                for loc in bindo_api(merchant).list_locations()
                if str(loc.get("id", "")).isdigit()
            ]
        except ApiError as exc:
            lists["errors"]["bindo"] = _error(exc)
    else:
        lists["errors"]["bindo"] = "the Bindo store id and API token are not saved yet"
    if _readable(merchant):
        try:
            lists["bigcommerce"] = [
                {
                    "id": int(loc["id"]),
                    "label": str(loc.get("label") or loc.get("code") or loc["id"]),
                    "enabled": bool(loc.get("enabled", True)),
                }
                for loc in bc_client(merchant).list_locations()
            ]
        except Unauthorized as exc:
            mark_needs_reauth(merchant, exc)
            lists["errors"]["bigcommerce"] = _error(exc)
        except ApiError as exc:
            lists["errors"]["bigcommerce"] = _error(exc)
    else:
        lists["errors"]["bigcommerce"] = f"the store is {merchant.state}"
    lists["fetched_at"] = utcnow().isoformat(timespec="seconds")
    merchant.known_locations = lists
    db.session.commit()
    return {k: len(v) for k, v in lists.items() if isinstance(v, list)}
