"""Alerts for staff: open ones first; support and admin can resolve them."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from sqlalchemy import select

from portal.admin.base import ActionRoleMixin, SecureModelView, datetime_filters
from portal.extensions import db
from portal.models import Alert, audit, utcnow


def resolve_alerts(ids: list[int], actor: str) -> int:
    """Mark the given open alerts resolved (audited); returns how many changed."""
    rows = db.session.scalars(
        select(Alert).where(Alert.id.in_(ids), Alert.resolved_at.is_(None))
    ).all()
    for alert in rows:
        alert.resolved_at = utcnow()
        audit(
            "alert.resolved",
            actor_type="staff",
            actor=actor,
            merchant=alert.merchant,
            alert_id=alert.id,
            kind=alert.kind,
        )
    db.session.commit()
    return len(rows)


class OpenFilter(BaseSQLAFilter):
    """Open (unresolved) or resolved alerts."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        if value == "open":
            return query.filter(Alert.resolved_at.is_(None))
        return query.filter(Alert.resolved_at.is_not(None))

    def operation(self) -> str:
        return "is"


class AlertView(ActionRoleMixin, SecureModelView):
    """Every alert; filter "Resolved at / empty" to see the open ones."""

    column_list = ("kind", "merchant", "message", "count", "created_at", "last_seen_at")
    column_list += ("resolved_at",)
    column_default_sort = [("resolved_at", False), ("last_seen_at", True)]
    column_labels = {"merchant.store_hash": "Store hash"}
    column_sortable_list = ("kind", "count", "created_at", "last_seen_at", "resolved_at")
    column_searchable_list = ("kind", "message")
    column_filters = (
        "kind",
        "merchant.store_hash",
        OpenFilter(
            Alert.resolved_at, "Status", options=(("open", "open"), ("resolved", "resolved"))
        ),
        *datetime_filters(Alert.last_seen_at, "Last seen"),
    )
    column_formatters = {
        "merchant": lambda v, c, m, n: (
            (m.merchant.store_name or m.merchant.store_hash) if m.merchant else ""
        ),
    }

    @action("resolve", "Resolve selected", "Mark the selected alerts resolved?")
    def action_resolve(self, ids: list[str]) -> None:
        changed = resolve_alerts([int(i) for i in ids if str(i).isdigit()], current_user.email)
        flash(f"{changed} alert(s) resolved.", "success" if changed else "warning")
