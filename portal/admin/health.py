"""One health row per merchant, for the dashboard and the merchant list: state, failing
products and since when, last sync (and the one running), last order, last webhook, and the
activation error. The same SQL expressions sort both pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    ImportedOrder,
    Merchant,
    ProductBinding,
    SyncRun,
    SyncState,
    WebhookEvent,
)
from portal.progress import run_progress

SYNC_KINDS = ("initial", "full", "reconcile", "retry")  # a dry run is not a sync


def _failing_where():
    return (
        ProductBinding.merchant_id == Merchant.id,
        ProductBinding.sync_state == SyncState.FAILED.value,
    )


# Correlated subqueries: sortable columns of the merchant list and the dashboard.
FAILING = (
    select(func.count(ProductBinding.id))
    .where(*_failing_where())
    .scalar_subquery()
    .label("failing")
)
FAILING_SINCE = (
    select(func.min(ProductBinding.first_error_at))
    .where(*_failing_where())
    .scalar_subquery()
    .label("failing_since")
)
LAST_SYNC = (
    select(func.max(SyncRun.finished_at))
    .where(SyncRun.merchant_id == Merchant.id, SyncRun.kind.in_(SYNC_KINDS))
    .scalar_subquery()
    .label("last_sync")
)
LAST_ORDER = (
    select(func.max(ImportedOrder.imported_at))
    .where(ImportedOrder.merchant_id == Merchant.id)
    .scalar_subquery()
    .label("last_order")
)
LAST_WEBHOOK = (
    select(func.max(WebhookEvent.received_at))
    .where(WebhookEvent.merchant_id == Merchant.id)
    .scalar_subquery()
    .label("last_webhook")
)
SORTS: dict[str, Any] = {
    "store": Merchant.store_hash,
    "state": Merchant.state,
    "failing": FAILING,
    "failing_since": FAILING_SINCE,
    "last_sync": LAST_SYNC,
    "last_order": LAST_ORDER,
    "last_webhook": LAST_WEBHOOK,
}


@dataclass
class Health:
    merchant: Merchant
    failing: int = 0
    failing_since: datetime | None = None
    last_sync: datetime | None = None
    last_order: datetime | None = None
    last_webhook: datetime | None = None
    synced: int = 0
    pending: int = 0
    running: dict[str, Any] | None = None  # run_progress of the sync in progress, if any
    running_id: int | None = None
    failed_url: str | None = None


def _rows(order: Any, desc: bool) -> list[Health]:
    column = order.desc() if desc else order.asc()
    stmt = select(Merchant, FAILING, FAILING_SINCE, LAST_SYNC, LAST_ORDER, LAST_WEBHOOK).order_by(
        column.nulls_last(), Merchant.store_hash
    )
    return [Health(*row) for row in db.session.execute(stmt).all()]


def merchant_health(sort: str = "failing", desc: bool = True) -> list[Health]:
    """Every merchant's health row, sorted by ``sort`` (a key of SORTS)."""
    rows = _rows(SORTS.get(sort, FAILING), desc)
    by_id = {h.merchant.id: h for h in rows}
    counts = db.session.execute(
        select(ProductBinding.merchant_id, ProductBinding.sync_state, func.count()).group_by(
            ProductBinding.merchant_id, ProductBinding.sync_state
        )
    ).all()
    for merchant_id, state, n in counts:
        health = by_id.get(merchant_id)
        if health is not None and state in (SyncState.SYNCED, SyncState.PENDING):
            setattr(health, str(state), n)
    running = db.session.scalars(
        select(SyncRun)
        .where(SyncRun.state.in_(("queued", "running")), SyncRun.kind != "dry_run")
        .order_by(SyncRun.id)
    ).all()
    for run in running:
        health = by_id.get(run.merchant_id)
        if health is not None:
            health.running, health.running_id = run_progress(run), run.id
    return rows


def health_of(merchant: Merchant) -> Health:
    """The merchant's row, computed once per request for every merchant (list pages)."""
    cache = g.get("_merchant_health")
    if cache is None:
        cache = g._merchant_health = {h.merchant.id: h for h in merchant_health()}
    return cache.get(merchant.id) or Health(merchant)
