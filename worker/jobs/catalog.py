"""Catalog RQ entry points: full and dry-run syncs, webhook pushes, staff retries and links,
the periodic reconcile and the settings change. Each takes ids and reloads its state.

The engine is worker.sync.catalog (one module per role). A retryable BigCommerce error is
recorded on the product and then re-raised, so RQ's Retry runs the job again; an open circuit
is deferred by @tracked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from portal.alerts import raise_alert
from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncRun, SyncRunItem, audit, utcnow
from worker.context import MerchantInactive, load_merchant
from worker.runtime import tracked
from worker.sync.catalog.binder import LinkError, invalidate_hashes, link_binding
from worker.sync.catalog.drift import find_drift
from worker.sync.catalog.engine import CHUNK, CatalogSync, parse_bindo_time
from worker.sync.catalog.report import COUNT_KEYS, ITEM_ACTIONS, SyncReport

log = logging.getLogger(__name__)

DRIFT_ALERT_THRESHOLD = 20  # drifted products in one reconcile before staff are alerted
MESSAGE_CHARS = 2000
DRY_RUN_KEYS = (
    "to_create",
    "to_link_sku",
    "to_link_upc",
    "to_update",
    "to_hide",
    "unchanged",
    "skipped",
    "errors",
)


# --- run bookkeeping ---------------------------------------------------------------------------


def _start(run: SyncRun) -> None:
    """(Re)start a run: a retried job starts its counts and items afresh."""
    db.session.execute(delete(SyncRunItem).where(SyncRunItem.run_id == run.id))
    run.state, run.started_at, run.finished_at, run.error = "running", utcnow(), None, None
    run.total, run.done, run.counts = 0, 0, dict.fromkeys(COUNT_KEYS, 0)
    db.session.commit()


def _add_items(run: SyncRun, report: SyncReport, *, everything: bool = False) -> None:
    """One SyncRunItem per outcome worth showing (all of them for retries)."""
    for outcome in report.outcomes:
        if outcome.action == "unchanged" and not everything:
            continue
        db.session.add(
            SyncRunItem(
                run_id=run.id,
                bindo_product_id=outcome.bindo_id,
                action=ITEM_ACTIONS.get(outcome.action, outcome.action)[:16],
                message=(outcome.message or "")[:MESSAGE_CHARS] or None,
            )
        )


def _finish(run: SyncRun, report: SyncReport) -> None:
    run.counts = report.counts()
    run.finished_at = utcnow()
    if report.stopped:
        run.state, run.error = "failed", f"stopped: {report.stopped}"
    elif report.retryable is not None:
        run.state, run.error = "retrying", f"{type(report.retryable).__name__}: {report.retryable}"
    else:
        run.state = "finished"
    db.session.commit()


def _fail_run(run: SyncRun, exc: Exception) -> None:
    db.session.rollback()
    run.state, run.error, run.finished_at = "failed", str(exc)[:MESSAGE_CHARS], utcnow()
    db.session.commit()


def _max_updated_at(records: Iterable[dict[str, Any]]) -> datetime | None:
    stamps = [parse_bindo_time(r.get("updated_at")) for r in records]
    return max((s for s in stamps if s is not None), default=None)


def _sync_in_chunks(
    engine: CatalogSync, run: SyncRun, records: Sequence[dict[str, Any]], report: SyncReport
) -> None:
    """Sync records 50 at a time, writing progress (done of total) after each chunk; then
    send the updates the engine kept back to fill whole batches."""
    for start in range(0, len(records), CHUNK):
        chunk = list(records[start : start + CHUNK])
        part = engine.sync_records(chunk)
        report.merge(part)
        _add_items(run, part)
        run.done = (run.done or 0) + len(chunk)
        run.counts = report.counts()
        db.session.commit()
        if part.stopped or part.retryable is not None:
            break
    part = engine.flush()
    report.merge(part)
    _add_items(run, part)
    run.counts = report.counts()
    db.session.commit()


def _full_sync(run: SyncRun, merchant: Merchant) -> SyncReport:
    _start(run)
    engine = CatalogSync(merchant, refresh_store=True, batch_across_calls=True)
    records = list(engine.bindo.iter_products(include_deleted=True))
    run.total = len(records)
    db.session.commit()
    report = SyncReport()
    _sync_in_chunks(engine, run, records, report)
    if not report.stopped and report.retryable is None:
        # Reconciles resume from here; Bindo's updated_since is inclusive, so nothing is missed.
        merchant.bindo_watermark = _max_updated_at(records) or merchant.bindo_watermark
    _finish(run, report)
    return report


# A dry run only reads, so staff may preview a store before activating it (or while paused).
PREVIEWABLE_STATES = frozenset({"installed", "active", "paused"})


def _load_run(run_id: int, *, preview: bool = False) -> tuple[SyncRun, Merchant] | None:
    run = db.session.get(SyncRun, run_id)
    if run is None:
        log.warning("sync run %s does not exist", run_id)
        return None
    try:
        merchant = load_merchant(run.merchant_id, require_active=not preview)
        if preview and not (
            merchant.state in PREVIEWABLE_STATES
            and merchant.access_token_enc
            and merchant.bindo_linked
        ):
            raise MerchantInactive(
                f"merchant {merchant.store_hash} ({merchant.state}) cannot be previewed: it "
                "needs a BigCommerce token and a complete Bindo link"
            )
    except MerchantInactive as exc:
        _fail_run(run, exc)
        return None
    return run, merchant


# --- jobs ------------------------------------------------------------------------------------


@tracked
def full_sync(run_id: int) -> dict[str, int]:
    """SyncRun kinds initial/full: every Bindo product (deleted included), 50 at a time."""
    loaded = _load_run(run_id)
    if loaded is None:
        return {}
    report = _full_sync(*loaded)
    if report.retryable is not None:
        raise report.retryable
    return report.counts()


@tracked
def push_products(merchant_id: int, bindo_product_ids: list[int]) -> dict[str, int]:
    """Webhook-triggered push of a few products (DEFAULT queue)."""
    merchant = load_merchant(merchant_id)
    report = CatalogSync(merchant).sync_ids(bindo_product_ids)
    if report.retryable is not None:
        raise report.retryable
    return report.counts()


@tracked
def retry_products(merchant_id: int, binding_ids: list[int]) -> dict[str, int]:
    """Staff retry: forget the bindings' hashes, push them again, record a retry run."""
    merchant = load_merchant(merchant_id)
    bindings = db.session.scalars(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id,
            ProductBinding.id.in_([int(i) for i in binding_ids]),
        )
    ).all()
    for binding in bindings:
        binding.last_payload_hash = None
    run = SyncRun(merchant_id=merchant.id, kind="retry", state="running")
    db.session.add(run)
    db.session.commit()
    _start(run)
    ids = [b.bindo_product_id for b in bindings]
    run.total = len(ids)
    report = CatalogSync(merchant).sync_ids(ids, force=ids)
    seen = {o.bindo_id for o in report.outcomes}
    for missing in sorted(set(ids) - seen):
        db.session.add(
            SyncRunItem(
                run_id=run.id, bindo_product_id=missing, action="error", message="not in Bindo"
            )
        )
    _add_items(run, report, everything=True)
    run.done = len(ids)
    _finish(run, report)
    if report.retryable is not None:
        raise report.retryable
    return report.counts()


@tracked
def reconcile(merchant_id: int) -> dict[str, int]:
    """Periodic: push what changed in Bindo since the watermark, then restore drifted fields."""
    merchant = load_merchant(merchant_id)
    run = SyncRun(merchant_id=merchant.id, kind="reconcile", state="running")
    db.session.add(run)
    db.session.commit()
    _start(run)
    engine = CatalogSync(merchant)
    records = list(
        engine.bindo.iter_products(updated_since=merchant.bindo_watermark, include_deleted=True)
    )
    run.total = len(records)
    report = SyncReport()
    _sync_in_chunks(engine, run, records, report)
    if report.stopped or report.retryable is not None:
        _finish(run, report)
        if report.retryable is not None:
            raise report.retryable
        return report.counts()
    merchant.bindo_watermark = _max_updated_at(records) or merchant.bindo_watermark
    drift = _repair_drift(engine, merchant, run, report)
    merchant.last_drift_count = drift
    merchant.last_reconciled_at = utcnow()
    run.drift = drift
    if drift > DRIFT_ALERT_THRESHOLD:
        raise_alert(
            "reconcile_drift",
            f"{drift} products of {merchant.store_hash} had Bindo-owned fields (price, name, "
            "SKU...) changed in BigCommerce; they were overwritten with Bindo's values. "
            "Someone may be editing them in BigCommerce instead of Bindo.",
            merchant=merchant,
        )
    _finish(run, report)
    if report.retryable is not None:
        raise report.retryable
    return {**report.counts(), "drift": drift}


def _repair_drift(engine: CatalogSync, merchant: Merchant, run: SyncRun, report: SyncReport) -> int:
    """Re-push (overwrite) products whose Bindo-owned fields differ in BigCommerce."""
    drifted = find_drift(merchant, engine.bc)
    ids = [b.bindo_product_id for b in drifted]
    if ids:
        part = engine.sync_ids(ids, force=ids)
        report.merge(part)
        _add_items(run, part)
        db.session.commit()
    return len(ids)


@tracked
def check_bc_products(merchant_id: int, bc_product_ids: list[int]) -> dict[str, int]:
    """After store/product/updated: overwrite Bindo-owned fields edited in BigCommerce; our
    own echo (values equal to what we pushed) costs one read and nothing else."""
    merchant = load_merchant(merchant_id)
    engine = CatalogSync(merchant)
    drifted = find_drift(merchant, engine.bc, bc_product_ids)
    ids = [b.bindo_product_id for b in drifted]
    report = engine.sync_ids(ids, force=ids) if ids else SyncReport()
    if report.retryable is not None:
        raise report.retryable
    return {**report.counts(), "drift": len(ids)}


@tracked
def dry_run(run_id: int) -> dict[str, int]:
    """SyncRun kind dry_run: what a full sync would do, with reads only (no write to Bindo or
    BigCommerce, no binding change). Works before activation too."""
    loaded = _load_run(run_id, preview=True)
    if loaded is None:
        return {}
    run, merchant = loaded
    _start(run)
    engine = CatalogSync(merchant, dry_run=True)
    records = list(engine.bindo.iter_products(include_deleted=True))
    run.total = len(records)
    counts = dict.fromkeys(DRY_RUN_KEYS, 0)
    for start in range(0, len(records), CHUNK):
        part = engine.sync_records(records[start : start + CHUNK])
        for outcome in part.outcomes:
            key = _dry_key(outcome.action, outcome.message)
            counts[key] += 1
            for name, n in (outcome.variants or {}).items():  # products with variants
                counts[name] = counts.get(name, 0) + n
            if key != "unchanged":
                db.session.add(
                    SyncRunItem(
                        run_id=run.id,
                        bindo_product_id=outcome.bindo_id,
                        action=ITEM_ACTIONS.get(outcome.action, outcome.action),
                        message=(outcome.message or "")[:MESSAGE_CHARS] or None,
                    )
                )
        run.done += len(records[start : start + CHUNK])
        run.counts = dict(counts)
        db.session.commit()
    for path in sorted(engine.categories.would_create):
        db.session.add(
            SyncRunItem(run_id=run.id, action="create", message=f"category '{path}' to create")
        )
    counts["categories_to_create"] = len(engine.categories.would_create)
    run.counts, run.state, run.finished_at = counts, "finished", utcnow()
    db.session.commit()
    return counts


def _dry_key(action: str, message: str | None) -> str:
    if action == "linked":
        return "to_link_upc" if message and "UPC" in message else "to_link_sku"
    return {
        "created": "to_create",
        "updated": "to_update",
        "hidden": "to_hide",
        "failed": "errors",
        "skipped": "skipped",
    }.get(action, "unchanged")


@tracked
def link_product(
    merchant_id: int, bindo_product_id: int, bc_product_id: int, actor: str | None = None
) -> dict[str, Any]:
    """Staff link (e.g. after a name clash): bind, then push Bindo's data onto the product."""
    merchant = load_merchant(merchant_id)
    try:
        outcome = link_binding(merchant.id, bindo_product_id, bc_product_id)
    except LinkError as exc:
        # Final: retrying the same link cannot help, so the job reports it instead of failing.
        audit(
            "catalog.link_refused",
            actor_type="staff",
            actor=actor,
            merchant=merchant,
            bindo_product_id=bindo_product_id,
            bc_product_id=bc_product_id,
            reason=str(exc),
        )
        db.session.commit()
        return {"linked": False, "error": str(exc)}
    audit(
        "catalog.linked",
        actor_type="staff",
        actor=actor,
        merchant=merchant,
        bindo_product_id=bindo_product_id,
        bc_product_id=bc_product_id,
        outcome=outcome.action,
    )
    db.session.commit()
    return {"linked": outcome.action == "linked", "action": outcome.action}


@tracked
def settings_changed(merchant_id: int) -> dict[str, int]:
    """content_managed_by or allow_out_of_stock_orders changed: forget every hash, then run a
    full sync so each product is sent once with the new rules (LOW queue)."""
    merchant = load_merchant(merchant_id)
    invalidate_hashes(merchant.id)
    run = SyncRun(merchant_id=merchant.id, kind="full", state="queued")
    db.session.add(run)
    db.session.commit()
    report = _full_sync(run, merchant)
    if report.retryable is not None:
        raise report.retryable
    return report.counts()
