"""The audit log: read-only, searchable by merchant, action and actor, exportable as CSV."""

from __future__ import annotations

import json
from typing import Any

from portal.admin.base import SecureModelView, datetime_filters
from portal.models import AuditLog


def detail_text(detail: dict[str, Any] | None) -> str:
    """The detail map as compact JSON text (escaped when rendered, never Markup)."""
    return json.dumps(detail or {}, sort_keys=True, default=str)


class AuditLogView(SecureModelView):
    can_export = True
    export_types = ["csv"]
    column_list = ("at", "actor_type", "actor", "merchant", "action", "detail")
    column_labels = {"merchant.store_hash": "Store hash"}
    column_default_sort = ("at", True)
    column_sortable_list = ("at", "actor_type", "actor", "action")
    column_searchable_list = ("action", "actor", "merchant.store_hash", "merchant.store_name")
    column_filters = (
        "action",
        "actor",
        "actor_type",
        "merchant.store_hash",
        *datetime_filters(AuditLog.at, "At"),
    )
    column_formatters = {
        "merchant": lambda v, c, m, n: (
            (m.merchant.store_name or m.merchant.store_hash) if m.merchant else ""
        ),
        "detail": lambda v, c, m, n: detail_text(m.detail),
    }
    column_formatters_export = column_formatters
