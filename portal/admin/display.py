"""How the staff pages show times, ids, labels and links: one format everywhere.

Registered as Jinja filters and globals by ``init_display(app)``; every value is returned as
plain text or built with ``Markup.format`` (which escapes), so merchant data stays escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app
from markupsafe import Markup
from sqlalchemy import select

from portal.extensions import db
from portal.models import CategoryCache, Merchant, utcnow
from shared.mapping.orders import STATUS_NAMES

# Raw values staff kept seeing, in words.
LABELS = {
    "in_store_only": "In Store Only",
    "deleted": "Deleted in Bindo",
    "bindo": "Bindo",
    "bigcommerce": "BigCommerce",
    "sum": "Sum of the linked locations",
    "map": "Each Bindo location to a BigCommerce location",
    "dry_run": "Dry run",
    "initial": "Initial sync",
    "full": "Full sync",
    "reconcile": "Reconciliation",
    "retry": "Retry",
    "needs_reauth": "Needs re-authorisation",
    "installed": "Installed",
    "active": "Active",
    "paused": "Paused",
    "uninstalled": "Uninstalled",
    "unknown_lines": "unknown products",
    "no_email": "no e-mail",
}


def label(value: Any) -> str:
    """A raw value in words ("in_store_only" -> "In Store Only"); booleans as yes/no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return LABELS.get(str(value), str(value).replace("_", " "))


def words(value: Any) -> str:
    """A known raw value in words; any other text unchanged (messages, SKUs)."""
    if value is None:
        return ""
    return LABELS.get(str(value), str(value))


def relative_age(then: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "3 min ago", "2 h ago", "5 days ago" (or "in 3 min" for the future)."""
    if then is None:
        return "never"
    seconds = ((now or utcnow()) - then).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        text = f"{max(1, round(seconds / 60))} min"
    elif seconds < 86400:
        text = f"{round(seconds / 3600)} h"
    else:
        days = round(seconds / 86400)
        text = f"{days} day" + ("" if days == 1 else "s")
    return f"in {text}" if future else f"{text} ago"


def when(then: datetime | None) -> Markup | str:
    """The one time format: "2026-11-29 07:41 UTC (3 min ago)", the exact time on hover."""
    if then is None:
        return "—"
    return Markup(
        '<time datetime="{}" title="{}">{} <small class="text-muted">({})</small></time>'
    ).format(
        then.isoformat(),
        then.strftime("%Y-%m-%d %H:%M:%S UTC"),
        then.strftime("%Y-%m-%d %H:%M UTC"),
        relative_age(then),
    )


def iso_when(value: Any) -> Markup | str:
    """``when`` for an ISO 8601 text (as JSON columns keep times)."""
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value or "—")


def order_status(status_id: int | None) -> str:
    if status_id is None:
        return "—"
    return STATUS_NAMES.get(int(status_id), f"status {status_id}")


# -- ids and deep links ------------------------------------------------------------------------


def control_panel_base(merchant: Merchant) -> str:
    template = current_app.config.get("BIGCOMMERCE_CONTROL_PANEL_URL") or ""
    return template.format(store_hash=merchant.store_hash).rstrip("/")


def bc_product_url(merchant: Merchant, product_id: int | None) -> str | None:
    base = control_panel_base(merchant)
    return f"{base}/manage/products/{int(product_id)}/edit" if base and product_id else None


def bc_order_url(merchant: Merchant, order_id: int | None) -> str | None:
    base = control_panel_base(merchant)
    return f"{base}/manage/orders/{int(order_id)}" if base and order_id else None


def bindo_url(kind: str, merchant: Merchant, ident: int | None) -> str | None:
    """Bindo's back office page of a product or order (BINDO_BACKOFFICE_URL; no link unset)."""
    base = (current_app.config.get("BINDO_BACKOFFICE_URL") or "").rstrip("/")
    if not base or not ident:
        return None
    template = current_app.config.get(f"BINDO_BACKOFFICE_{kind.upper()}_PATH") or ""
    return base + template.format(store_id=merchant.bindo_store_id or "", id=int(ident))


def _ref(text: str, url: str | None, title: str) -> Markup:
    if url is None:
        return Markup('<span class="text-nowrap">{}</span>').format(text)
    return Markup(
        '<a class="text-nowrap" href="{}" target="_blank" rel="noopener" title="{}">{}</a>'
    ).format(url, title, text)


def bindo_ref(ident: int | None, merchant: Merchant | None = None, kind: str = "product") -> Any:
    """ "Bindo #134", linked to Bindo's back office when configured."""
    if not ident:
        return "—"
    url = bindo_url(kind, merchant, ident) if merchant is not None else None
    return _ref(f"Bindo #{ident}", url, f"Open this {kind} in Bindo's back office")


def bc_ref(ident: int | None, merchant: Merchant | None = None, kind: str = "product") -> Any:
    """ "BC #134", linked to the BigCommerce control panel."""
    if not ident:
        return "—"
    url = None
    if merchant is not None:
        url = bc_order_url(merchant, ident) if kind == "order" else bc_product_url(merchant, ident)
    return _ref(f"BC #{ident}", url, f"Open this {kind} in the BigCommerce control panel")


def category_names(merchant_id: int) -> dict[int, str]:
    """BigCommerce category id -> its path as we created or found it (the category cache)."""
    rows = db.session.execute(
        select(CategoryCache.bc_category_id, CategoryCache.path_key).where(
            CategoryCache.merchant_id == merchant_id
        )
    ).all()
    return {int(cid): path for cid, path in rows}


def category_label(merchant: Merchant, category_id: int | None) -> str:
    if not category_id:
        return "— none —"
    name = category_names(merchant.id).get(int(category_id))
    return f"{name} (BC #{category_id})" if name else f"BC category #{category_id}"


def init_display(app: Flask) -> None:
    app.jinja_env.filters.update(
        label=label,
        words=words,
        ago=relative_age,
        when=when,
        iso_ago=iso_when,
        order_status=order_status,
    )
    app.jinja_env.globals.update(bindo_ref=bindo_ref, bc_ref=bc_ref, category_label=category_label)
