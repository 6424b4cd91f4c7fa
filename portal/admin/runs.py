"""Sync runs (full, initial, reconcile, retry, dry run) and a JSON progress endpoint the run
page polls, so "n of N, about M min left" updates without a reload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, jsonify
from flask_admin import expose
from sqlalchemy import select

from portal.admin.base import SecureModelView, datetime_filters
from portal.extensions import db
from portal.models import SyncRun, SyncRunItem, utcnow

# Dry-run items grouped as staff read them: (heading, item action, link kind).
DRY_RUN_GROUPS = (
    ("To create", "create", None),
    ("To link by SKU", "link", "SKU"),
    ("To link by UPC", "link", "UPC"),
    ("To update", "update", None),
    ("To hide", "hide", None),
    ("Errors", "error", None),
    ("Skipped", "skip", None),
)
GROUP_ROWS = 200

FINISHED_STATES = frozenset({"done", "finished", "failed", "cancelled", "succeeded", "error"})


def eta_seconds(run: SyncRun, now: datetime | None = None) -> int | None:
    """Seconds left at the rate seen so far; 0 when finished, None when there is no rate yet."""
    if run.state in FINISHED_STATES or run.finished_at is not None:
        return 0
    if not run.started_at or run.done <= 0 or run.total <= 0:
        return None
    elapsed = ((now or utcnow()) - run.started_at).total_seconds()
    if elapsed <= 0:
        return None
    remaining = max(run.total - run.done, 0)
    return round(remaining * elapsed / run.done)


def progress(run: SyncRun) -> dict[str, Any]:
    return {
        "state": run.state,
        "done": run.done,
        "total": run.total,
        "eta_seconds": eta_seconds(run),
    }


def format_counts(counts: dict[str, int] | None) -> str:
    """``{"create": 3, "error": 1}`` -> ``"create 3, error 1"`` (plain text, escaped on render)."""
    return ", ".join(f"{key} {value}" for key, value in sorted((counts or {}).items()))


def dry_run_groups(run: SyncRun) -> list[tuple[str, int, list[SyncRunItem]]]:
    """A dry run's items by what a full sync would do: (heading, count, first 200 items)."""
    items = db.session.scalars(
        select(SyncRunItem).where(SyncRunItem.run_id == run.id).order_by(SyncRunItem.id)
    ).all()
    groups = []
    for heading, action, link_kind in DRY_RUN_GROUPS:
        rows = [i for i in items if i.action == action and _link_kind(i) == link_kind]
        groups.append((heading, len(rows), rows[:GROUP_ROWS]))
    return groups


def _link_kind(item: SyncRunItem) -> str | None:
    if item.action != "link":
        return None
    return "UPC" if "UPC" in (item.message or "") else "SKU"


class SyncRunView(SecureModelView):
    """Every sync run, newest first; the detail page shows live progress and recent items."""

    details_template = "admin/run_details.html"
    column_list = (
        "id",
        "merchant",
        "kind",
        "state",
        "progress",
        "counts",
        "drift",
        "started_at",
        "finished_at",
    )
    # The live box above the table shows progress; a static copy below would go stale.
    column_details_list = tuple(c for c in column_list if c != "progress") + ("error", "created_at")
    column_sortable_list = ("id", "kind", "state", "drift", "started_at", "finished_at")
    column_labels = {"merchant.store_hash": "Store hash"}
    column_default_sort = ("id", True)
    column_filters = (
        "merchant.store_hash",
        "kind",
        "state",
        *datetime_filters(SyncRun.started_at, "Started"),
    )
    column_formatters = {
        "merchant": lambda v, c, m, n: m.merchant.store_name or m.merchant.store_hash,
        "progress": lambda v, c, m, n: f"{m.done} of {m.total}",
        "counts": lambda v, c, m, n: format_counts(m.counts),
    }
    column_formatters_detail = column_formatters

    @expose("/<int:run_id>/progress")
    def progress_view(self, run_id: int):
        """``{"state", "done", "total", "eta_seconds"}`` for the polling script."""
        run = db.session.get(SyncRun, run_id)
        if run is None:
            abort(404)
        response = jsonify(progress(run))
        response.headers["Cache-Control"] = "no-store"
        return response

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.details_template and kwargs.get("model") is not None:
            run = kwargs["model"]
            kwargs["progress"] = progress(run)
            kwargs["recent_items"] = db.session.scalars(
                select(SyncRunItem)
                .where(SyncRunItem.run_id == run.id)
                .order_by(SyncRunItem.id.desc())
                .limit(50)
            ).all()
            kwargs["dry_run_groups"] = dry_run_groups(run) if run.kind == "dry_run" else None
        return super().render(template, **kwargs)
