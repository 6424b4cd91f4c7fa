"""Sync runs (full, initial, reconcile, retry, dry run) and a JSON progress endpoint the run
page polls, so "n of N, about M min left" updates without a reload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, jsonify
from flask_admin import expose
from sqlalchemy import select

from portal.admin.base import SecureModelView
from portal.admin.sync_errors import datetime_filters
from portal.extensions import db
from portal.models import SyncRun, SyncRunItem, utcnow

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
        return super().render(template, **kwargs)
