"""Sync runs (full, initial, reconcile, retry, dry run) and a JSON progress endpoint the run
page polls, so "n of N, about M min left" updates without a reload."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify
from flask_admin import expose
from sqlalchemy import select

from portal.admin.base import SecureModelView, datetime_filters
from portal.admin.display import label, when
from portal.extensions import db
from portal.models import SyncRun, SyncRunItem
from portal.progress import eta_seconds, run_progress

__all__ = ["SyncRunView", "eta_seconds", "progress"]

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


def progress(run: SyncRun) -> dict[str, Any]:
    return run_progress(run)


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
        "progress": lambda v, c, m, n: run_progress(m)["text"],
        "kind": lambda v, c, m, n: label(m.kind),
        "started_at": lambda v, c, m, n: when(m.started_at),
        "finished_at": lambda v, c, m, n: when(m.finished_at),
        "created_at": lambda v, c, m, n: when(m.created_at),
        "counts": lambda v, c, m, n: format_counts(m.counts),
    }
    column_formatters_detail = column_formatters

    @expose("/<int:run_id>/progress")
    def progress_view(self, run_id: int):
        """``{"state", "done", "total", "percent", "eta_seconds", "finished", "text"}`` for the
        polling script."""
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
