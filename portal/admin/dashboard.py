"""The staff dashboard (the admin index): merchants, products, orders, queues, alerts, activity.

Every figure is read from the database or from Redis through ``portal.queue``; a Redis outage
shows "Redis unreachable" instead of failing the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app, request, url_for
from flask_admin import expose
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from portal.admin.base import SecureIndexView
from portal.admin.health import SORTS, merchant_health
from portal.extensions import db
from portal.models import (
    Alert,
    ImportedOrder,
    InstallNotification,
    Merchant,
    MerchantState,
    ProductBinding,
    SyncRun,
    SyncState,
    utcnow,
)
from portal.queue import QUEUE_NAMES, get_queue

CHART_DAYS = 14
STATE_LABELS = {
    MerchantState.INSTALLED: "Installed, awaiting activation",
    MerchantState.ACTIVE: "Active",
    MerchantState.PAUSED: "Paused",
    MerchantState.NEEDS_REAUTH: "Needs re-authorisation",
    MerchantState.UNINSTALLED: "Uninstalled",
}


# -- links into other admin views (they may be absent or renamed; a missing one is no link) ----


def endpoint_url(endpoint: str, **values: Any) -> str | None:
    """``url_for`` that answers None when the endpoint is not registered."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def admin_view(endpoint: str) -> Any | None:
    """The registered Flask-Admin view with this endpoint, if any."""
    admin = current_app.extensions.get("portal_admin")
    for view in getattr(admin, "_views", []):
        if view.endpoint == endpoint:
            return view
    return None


def filtered_list_url(endpoint: str, column: str, value: Any) -> str | None:
    """The list URL of view ``endpoint`` filtered on ``column`` equal to ``value``."""
    view = admin_view(endpoint)
    if view is None:
        return None
    for index, flt in enumerate(getattr(view, "_filters", None) or []):
        flt_column = getattr(flt, "column", None)
        if getattr(flt_column, "key", None) == column and flt.operation() == "equals":
            arg = f"flt0_{view.get_filter_arg(index, flt)}"
            return endpoint_url(f"{endpoint}.index_view", **{arg: value})
    return endpoint_url(f"{endpoint}.index_view")


# -- figures --------------------------------------------------------------------------------


def merchants_by_state() -> list[dict[str, Any]]:
    """One row per merchant state: label, count and a link to the filtered merchant list."""
    counts = dict(
        db.session.execute(select(Merchant.state, func.count()).group_by(Merchant.state)).all()
    )
    return [
        {
            "state": state.value,
            "label": label,
            "count": counts.get(state.value, 0),
            "url": filtered_list_url("merchants", "state", state.value),
        }
        for state, label in STATE_LABELS.items()
    ]


def unread_notification_count() -> int:
    stmt = select(func.count()).where(InstallNotification.handled_at.is_(None))
    return db.session.scalar(stmt) or 0


def start_of_today() -> datetime:
    return datetime.combine(utcnow().date(), time.min, tzinfo=UTC)


def orders_imported_today() -> int:
    stmt = select(func.count()).where(ImportedOrder.imported_at >= start_of_today())
    return db.session.scalar(stmt) or 0


@dataclass
class QueueStats:
    reachable: bool
    queues: list[dict[str, Any]] = field(default_factory=list)


def queue_stats() -> QueueStats:
    """Queued and failed job counts per RQ queue; ``reachable`` is False when Redis is down."""
    try:
        rows = []
        for name in QUEUE_NAMES:
            queue = get_queue(name)
            failed = FailedJobRegistry(queue=queue).count
            rows.append({"name": name, "queued": queue.count, "failed": failed})
    except (RedisError, OSError):
        return QueueStats(reachable=False)
    return QueueStats(reachable=True, queues=rows)


def reconciliations() -> list[dict[str, Any]]:
    """Per merchant: when reconciliation last ran, the drift it found, and that run's page."""
    merchants = db.session.scalars(
        select(Merchant)
        .where(Merchant.state != MerchantState.UNINSTALLED.value)
        .order_by(Merchant.store_hash)
    ).all()
    rows = []
    for merchant in merchants:
        run = db.session.scalar(
            select(SyncRun)
            .where(SyncRun.merchant_id == merchant.id, SyncRun.kind == "reconcile")
            .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
            .limit(1)
        )
        at = merchant.last_reconciled_at or (run.finished_at if run else None)
        drift = merchant.last_drift_count if merchant.last_drift_count is not None else None
        if drift is None and run is not None:
            drift = run.drift
        url = endpoint_url("runs.details_view", id=run.id) if run else None
        rows.append({"merchant": merchant, "at": at, "drift": drift, "run_url": url})
    return rows


def open_alerts(limit: int = 10) -> tuple[int, list[Alert]]:
    where = Alert.resolved_at.is_(None)
    total = db.session.scalar(select(func.count()).where(where)) or 0
    rows = db.session.scalars(
        select(Alert).where(where).order_by(Alert.last_seen_at.desc()).limit(limit)
    ).all()
    return total, list(rows)


# -- the 14-day chart ------------------------------------------------------------------------


def _per_day(column: Any, *conditions: Any, since: datetime) -> dict[date, int]:
    """Row counts per UTC day of ``column`` since ``since`` (grouped in SQL on both backends)."""
    day = func.date(column)
    stmt = select(day, func.count()).where(column >= since, *conditions).group_by(day)
    result: dict[date, int] = {}
    for value, n in db.session.execute(stmt).all():
        key = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        result[key] = result.get(key, 0) + n
    return result


def activity_chart(days: int = CHART_DAYS) -> dict[str, Any]:
    """Bars for the last ``days`` days: products synced (by their last sync) and products
    failing (by their last failure), laid out as plain numbers for an inline SVG."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    # Products, not sync items: a product synced twice is one product, so the totals agree
    # with the Synced and Failing columns (for products whose last change is in the window).
    synced = _per_day(
        ProductBinding.last_synced_at,
        ProductBinding.sync_state == SyncState.SYNCED.value,
        since=since,
    )
    errors = _per_day(
        ProductBinding.last_error_at,
        ProductBinding.sync_state == SyncState.FAILED.value,
        since=since,
    )
    series = []
    for i in range(days):
        day = first + timedelta(days=i)
        series.append(
            {
                "day": day,
                "synced": synced.get(day, 0),
                "errors": errors.get(day, 0),
            }
        )
    return _layout_bars(series)


def _layout_bars(series: list[dict[str, Any]], height: int = 120, slot: int = 36) -> dict[str, Any]:
    peak = max([1] + [max(s["synced"], s["errors"]) for s in series])
    bar = (slot - 8) // 2
    bars = []
    for i, s in enumerate(series):
        x = i * slot + 4
        for offset, key in ((0, "synced"), (bar, "errors")):
            h = round(s[key] / peak * height)
            bars.append(
                {
                    "x": x + offset,
                    "y": height - h + 10,
                    "w": bar,
                    "h": h,
                    "kind": key,
                    "value": s[key],
                    "day": s["day"].isoformat(),
                }
            )
    labels = [
        {"x": i * slot + 4 + bar, "text": s["day"].strftime("%d %b")} for i, s in enumerate(series)
    ]
    return {
        "width": slot * len(series) + 8,
        "height": height + 40,
        "base": height + 10,
        "bars": bars,
        "labels": labels,
        "peak": peak,
        "total_synced": sum(s["synced"] for s in series),
        "total_errors": sum(s["errors"] for s in series),
    }


HEALTH_COLUMNS = (
    ("store", "Merchant"),
    ("state", "State"),
    ("failing", "Failing"),
    ("last_sync", "Sync"),
    ("last_order", "Last order"),
    ("last_webhook", "Last webhook"),
)


def health_table(sort: str, desc: bool) -> dict[str, Any]:
    """The health rows and, per column, the link that sorts by it (again: the other way)."""
    sort = sort if sort in SORTS else "failing"
    links = {
        key: url_for("admin.index", sort=key, desc="0" if key == sort and desc else "1")
        for key, _ in HEALTH_COLUMNS
    }
    rows = merchant_health(sort, desc)
    for row in rows:
        if row.failing:
            row.failed_url = filtered_list_url("sync_errors", "merchant_id", row.merchant.id)
    return {"rows": rows, "columns": HEALTH_COLUMNS, "links": links, "sort": sort, "desc": desc}


def dashboard_context(sort: str = "failing", desc: bool = True) -> dict[str, Any]:
    """Everything the dashboard template shows."""
    alert_total, alerts = open_alerts()
    return {
        "health": health_table(sort, desc),
        "merchant_states": merchants_by_state(),
        "unread_notifications": unread_notification_count(),
        "notifications_url": endpoint_url("notifications.index_view"),
        "orders_today": orders_imported_today(),
        "orders_url": endpoint_url("orders.index_view"),
        "queues": queue_stats(),
        "reconciliations": reconciliations(),
        "alert_total": alert_total,
        "alerts": alerts,
        "alerts_url": endpoint_url("alerts.index_view"),
        "chart": activity_chart(),
    }


class DashboardView(SecureIndexView):
    """The admin index: same access rule as every other view (any signed-in staff role)."""

    @expose("/")
    def index(self):
        sort = request.args.get("sort", "failing")
        desc = request.args.get("desc", "1") != "0"
        return self.render("admin/dashboard.html", **dashboard_context(sort, desc))
