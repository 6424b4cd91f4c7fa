"""Imported orders in the staff admin: state, both ids, flags and errors, and a re-import.

The re-import action only enqueues ``worker.jobs.orders.import_order`` by path (the portal never
imports the worker); the job re-fetches the order, so re-importing is always safe.
"""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from sqlalchemy import String, cast, select

from portal.admin.base import ActionRoleMixin, SecureModelView
from portal.admin.display import bc_ref, bindo_ref, label, order_status, when
from portal.extensions import db
from portal.models import ImportedOrder, Merchant, audit
from portal.queue import HIGH, enqueue, make_job_id

IMPORT_JOB = "worker.jobs.orders.import_order"
STATES = (
    "pending",
    "waiting",
    "skipped",
    "imported",
    "cancelled",
    "refunded",
    "partially_refunded",
    "failed",
)
FLAGS = ("unknown_lines", "no_email")


class FlagFilter(BaseSQLAFilter):
    """Rows whose JSON ``flags`` list holds the flag (a text match works on every backend)."""

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        return query.filter(cast(ImportedOrder.flags, String).like(f'%"{value}"%'))

    def operation(self) -> str:
        return "has"


class ImportedOrderView(ActionRoleMixin, SecureModelView):
    column_list = (
        "merchant",
        "bc_order_id",
        "bindo_order_id",
        "state",
        "bc_status_id",
        "total",
        "flags",
        "error_message",
        "attempts",
        "imported_at",
        "updated_at",
    )
    column_labels = {
        "bc_order_id": "BigCommerce order",
        "bindo_order_id": "Bindo order",
        "bc_status_id": "BigCommerce status",
        "error_message": "Error",
    }
    column_default_sort = ("updated_at", True)
    column_searchable_list = ("bc_order_id", "bindo_order_id")
    column_formatters = {
        "merchant": lambda v, c, m, n: m.merchant.store_name or m.merchant.store_hash,
        "bc_order_id": lambda v, c, m, n: bc_ref(m.bc_order_id, m.merchant, kind="order"),
        "bindo_order_id": lambda v, c, m, n: bindo_ref(m.bindo_order_id, m.merchant, kind="order"),
        "state": lambda v, c, m, n: label(m.state),
        "bc_status_id": lambda v, c, m, n: order_status(m.bc_status_id),
        "flags": lambda v, c, m, n: ", ".join(label(f) for f in m.flags or []),
        "imported_at": lambda v, c, m, n: when(m.imported_at),
        "updated_at": lambda v, c, m, n: when(m.updated_at),
    }
    column_formatters_detail = column_formatters
    column_filters = (
        Merchant.store_hash,
        "state",
        FlagFilter(ImportedOrder.flags, "Flag", options=[(f, f) for f in FLAGS]),
    )

    @action("reimport", "Re-import", "Fetch these orders from BigCommerce again?")
    def action_reimport(self, ids: list[str]) -> None:
        count = reimport([int(i) for i in ids if str(i).isdigit()])
        flash(f"{count} order(s) queued for re-import.")


def reimport(row_ids: list[int]) -> int:
    """Enqueue an import per selected row (deterministic job id: no double queueing)."""
    from flask_login import current_user

    rows = db.session.scalars(select(ImportedOrder).where(ImportedOrder.id.in_(row_ids))).all()
    for row in rows:
        audit(
            "order.reimport_requested",
            actor_type="staff",
            actor=getattr(current_user, "email", None),
            merchant=row.merchant,
            bc_order_id=row.bc_order_id,
        )
        db.session.commit()  # the audit row before the job: a fast worker finds it
        enqueue(
            IMPORT_JOB,
            row.merchant_id,
            row.bc_order_id,
            queue=HIGH,
            job_id=make_job_id("order", row.merchant.store_hash, row.bc_order_id),
            merchant_id=row.merchant_id,
        )
    return len(rows)


def orders_view() -> ImportedOrderView:
    return ImportedOrderView(ImportedOrder, db.session, name="Orders", endpoint="orders")
