"""Catalog RQ entry points: full and dry-run syncs, webhook pushes, staff retries and links,
the periodic reconcile and the settings change. Each takes ids and reloads its state.

Full syncs, settings re-sends, reconciles and retries are resumable runs: each job is one
short step (worker.sync.catalog.steps) that queues the next with a delay instead of waiting
for the store's quota. The engine is worker.sync.catalog (one module per role). A retryable
BigCommerce error is recorded on the product and then re-raised, so RQ's Retry runs the step
again from its cursor; an open circuit is deferred by @tracked.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import get_current_job
from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncRun, SyncRunItem, audit, utcnow
from portal.queue import LOW, enqueue, make_job_id
from worker.context import MerchantInactive, load_merchant
from worker.runtime import tracked
from worker.sync.catalog.binder import LinkError, invalidate_hashes, link_binding
from worker.sync.catalog.drift import find_drift
from worker.sync.catalog.engine import CHUNK, CatalogSync
from worker.sync.catalog.handlers import done_checks, take_checks
from worker.sync.catalog.report import ITEM_ACTIONS, SyncReport
from worker.sync.catalog.steps import fail_run, run_step, start_run

log = logging.getLogger(__name__)

CONTINUE_JOB = "worker.jobs.catalog.continue_run"
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
        fail_run(run, exc)
        return None
    return run, merchant


# --- resumable runs: one short step per job ----------------------------------------------------


def never() -> bool:
    return False


def _step(run: SyncRun, merchant: Merchant, step: int) -> dict[str, int]:
    """Run step number ``step`` of ``run`` and queue the next one (see catalog/steps.py).

    ``run.steps`` is the last step started: an older step job (a duplicate, or the retry of a
    step whose successor already started) does nothing. The retry of a killed or failed step
    has the same number, so it runs again from the saved cursor. Called outside a worker (a
    shell, a test, a bench), there is nobody to hand the next step to: the run goes on here
    to its end, sleeping while the quota refills. Returns the run's counts so far.
    """
    if (run.steps or 0) > step or run.state in ("finished", "failed"):
        log.info("run %s step %s: stale (run at step %s, %s)", run.id, step, run.steps, run.state)
        return {}
    while True:
        run.steps, run.state = step, "running"
        db.session.commit()
        in_worker = get_current_job() is not None
        # Outside a worker nobody runs the waiting jobs in between: no reason to yield to them.
        result = run_step(run, merchant) if in_worker else run_step(run, merchant, yield_when=never)
        if result.report.retryable is not None:
            raise result.report.retryable  # RQ's Retry runs this step again, from the cursor
        if result.done:
            break
        if not in_worker:
            time.sleep(result.delay)
            step += 1
            continue
        enqueue(
            CONTINUE_JOB,
            run.id,
            step + 1,
            queue=LOW,
            job_id=make_job_id("catalog_run", run.id, "step", step + 1),
            merchant_id=merchant.id,
            delay=max(1.0, result.delay) if result.delay else None,
        )
        break
    counts = dict(run.counts or {})
    if run.kind == "reconcile":
        counts["drift"] = run.drift or 0
    return counts


def _begin(merchant: Merchant, kind: str, **cursor: Any) -> dict[str, int]:
    """A new run of ``kind`` for the merchant, and its first step."""
    run = SyncRun(merchant_id=merchant.id, kind=kind, state="running")
    db.session.add(run)
    db.session.commit()
    start_run(run, **cursor)
    return _step(run, merchant, 1)


@tracked
def full_sync(run_id: int) -> dict[str, int]:
    """SyncRun kinds initial/full: every Bindo product (deleted included); the first step."""
    loaded = _load_run(run_id)
    if loaded is None:
        return {}
    run, merchant = loaded
    if not run.steps:
        start_run(run)
    # A retry of this first step resumes at the cursor; a late duplicate of it does nothing.
    return _step(run, merchant, 1)


@tracked
def continue_run(run_id: int, step: int) -> dict[str, int]:
    """The next step of a resumable run (full, reconcile, retry), queued by the previous one."""
    loaded = _load_run(run_id)
    if loaded is None:
        return {}
    return _step(*loaded, int(step))


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
    """Staff retry: forget the bindings' hashes, push them again (forced) in a retry run."""
    merchant = load_merchant(merchant_id)
    bindings = db.session.scalars(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id,
            ProductBinding.id.in_([int(i) for i in binding_ids]),
        )
    ).all()
    for binding in bindings:
        binding.last_payload_hash = None
    db.session.commit()
    return _begin(merchant, "retry", ids=[b.bindo_product_id for b in bindings])


@tracked
def reconcile(merchant_id: int) -> dict[str, int]:
    """Periodic: push what changed in Bindo since the watermark, then restore drifted fields."""
    merchant = load_merchant(merchant_id)
    since = merchant.bindo_watermark.isoformat() if merchant.bindo_watermark else None
    return _begin(merchant, "reconcile", since=since)


@tracked
def check_bc_products(merchant_id: int, bc_product_ids: list[int] | None = None) -> dict[str, int]:
    """After store/product/updated: overwrite Bindo-owned fields edited in BigCommerce.

    The products come from the store's pending set (worker.sync.catalog.handlers, 50 per read)
    plus any ids given; echoes of our own writes were already dropped by the handler.
    """
    merchant = load_merchant(merchant_id)
    pending = take_checks(merchant.id)
    ids = sorted({*pending, *(int(i) for i in bc_product_ids or ())})
    engine = CatalogSync(merchant)
    drifted = find_drift(merchant, engine.bc, ids) if ids else []
    repair = [b.bindo_product_id for b in drifted]
    report = engine.sync_ids(repair, force=repair) if repair else SyncReport()
    if report.retryable is not None:
        raise report.retryable
    done_checks(merchant, pending)
    return {**report.counts(), "checked": len(ids), "drift": len(repair)}


@tracked
def dry_run(run_id: int) -> dict[str, int]:
    """SyncRun kind dry_run: what a full sync would do, with reads only (no write to Bindo or
    BigCommerce, no binding change). Works before activation too."""
    loaded = _load_run(run_id, preview=True)
    if loaded is None:
        return {}
    run, merchant = loaded
    start_run(run)
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
    full sync so each product is sent once with the new rules (LOW queue, in steps)."""
    merchant = load_merchant(merchant_id)
    invalidate_hashes(merchant.id)
    return _begin(merchant, "full")
