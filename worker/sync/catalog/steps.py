"""Resumable catalog runs: a long sync is a chain of short steps that never wait for quota.

A step (``run_step``) spends what the store's quota allows now (``RatePacer.budget``),
processes products in chunks, records its place on the SyncRun (``cursor``: a position in
Bindo's id-ordered product list, or in a retry's id list, then the drift phase of a
reconcile) and stops when the quota is spent, when its wall-clock budget is used up, or when
stock or order work is waiting on the high/default queues. It returns how long to wait; the
job (worker.jobs.catalog) then queues the next step with ``delay=`` at the back of the low
queue instead of sleeping, so stores syncing at once take turns on the workers.

Re-processing is safe (bindings and payload hashes make a product written once "unchanged";
a SKU look-up guards creates), so a step that dies resumes at its cursor: the cursor only
passes a product once its write is committed. Run kinds: initial / full (every product),
reconcile (changed since the watermark, then drift), retry (the given ids, forced).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from portal.alerts import raise_alert
from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncRun, SyncRunItem, utcnow
from portal.queue import DEFAULT, HIGH, get_queue
from worker.clients.bindo import PER_PAGE
from worker.clients.pacing import Budget, RatePacer
from worker.context import redis
from worker.sync.catalog.drift import find_drift
from worker.sync.catalog.engine import CHUNK, INTERRUPTED, CatalogSync, parse_bindo_time
from worker.sync.catalog.report import COUNT_KEYS, ITEM_ACTIONS, SyncReport

log = logging.getLogger(__name__)

DEFAULT_STEP_SECONDS = 10.0  # wall-clock budget of one step (CATALOG_STEP_SECONDS)
DEFAULT_MIN_SLICE_SECONDS = 0.5  # work done before yielding to others (CATALOG_MIN_SLICE_SECONDS)
# Requests kept aside per chunk beyond one per product: the SKU look-up of the chunk's
# creates and the flush of kept-back updates. A chunk never plans more than the budget.
RESERVE = 2
DRIFT_ALERT_THRESHOLD = 20  # drifted products in one reconcile before staff are alerted
MESSAGE_CHARS = 2000
FULL_KINDS = frozenset({"initial", "full"})


@dataclass
class StepResult:
    """What one step did and what comes next."""

    report: SyncReport
    done: bool
    delay: float = 0.0  # seconds before the next step, when not done


# --- run bookkeeping ---------------------------------------------------------------------------


def start_run(run: SyncRun, **cursor: Any) -> None:
    """(Re)start a run from the beginning: counts, items and cursor afresh."""
    db.session.execute(delete(SyncRunItem).where(SyncRunItem.run_id == run.id))
    run.state, run.started_at, run.finished_at, run.error = "running", utcnow(), None, None
    run.total, run.done, run.counts, run.drift = 0, 0, dict.fromkeys(COUNT_KEYS, 0), 0
    run.cursor = {"pos": 0, "phase": "products", **cursor}
    db.session.commit()


def add_items(run: SyncRun, report: SyncReport, *, everything: bool = False) -> None:
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


def _count(run: SyncRun, report: SyncReport) -> None:
    totals = dict(run.counts or {})
    for key, value in report.counts().items():
        totals[key] = totals.get(key, 0) + value
    run.counts = totals


def finish_run(run: SyncRun, report: SyncReport) -> None:
    run.finished_at = utcnow()
    if report.stopped:
        run.state, run.error = "failed", f"stopped: {report.stopped}"
    elif report.retryable is not None:
        run.state, run.error = "retrying", f"{type(report.retryable).__name__}: {report.retryable}"
        run.finished_at = None
    else:
        run.state = "finished"
    db.session.commit()


def fail_run(run: SyncRun, exc: Exception) -> None:
    db.session.rollback()
    run.state, run.error, run.finished_at = "failed", str(exc)[:MESSAGE_CHARS], utcnow()
    db.session.commit()


# --- when to stop --------------------------------------------------------------------------------


def other_work_waiting() -> bool:
    """Stock, orders or webhook events queued (high/default): a step gives its worker up."""
    return any(get_queue(name).count for name in (HIGH, DEFAULT))


def step_seconds() -> float:
    return float(current_app.config.get("CATALOG_STEP_SECONDS", DEFAULT_STEP_SECONDS))


def min_slice_seconds() -> float:
    return float(current_app.config.get("CATALOG_MIN_SLICE_SECONDS", DEFAULT_MIN_SLICE_SECONDS))


class Step:
    """One step of one run: the chunk loop, the cursor and the stop rules."""

    def __init__(
        self,
        run: SyncRun,
        merchant: Merchant,
        *,
        pacer: RatePacer | None = None,
        yield_when: Callable[[], bool] | None = None,
        seconds: float | None = None,
    ) -> None:
        self.run = run
        self.merchant = merchant
        self.cursor: dict[str, Any] = dict(run.cursor or {"pos": 0, "phase": "products"})
        first = not self.cursor.get("started")
        self.engine = CatalogSync(
            merchant,
            refresh_store=first and run.kind in FULL_KINDS,
            batch_across_calls=True,
            store_empty=self.cursor.get("store_empty"),
        )
        self.pacer = pacer or RatePacer(redis())
        self.started = time.monotonic()
        self.yield_when = yield_when or self._others_wait_after_slice
        self.engine.interrupt = self.yield_when
        self.engine.progress = self._progress
        self.deadline = time.monotonic() + (step_seconds() if seconds is None else seconds)
        self.report = SyncReport()
        self.delay: float | None = None  # set when the step stops before the run is done
        self.positions: dict[int, int] = {}  # bindo id -> cursor position, this step
        # The run's total and done as this step set them: the step is the run row's only
        # writer, and reading them back from the row after each create's commit would reload
        # the row once per product.
        self.total, self.shown = int(run.total or 0), int(run.done or 0)
        self.interrupted: set[int] = set()  # creates left for the next step
        self._pages: dict[int, list[dict[str, Any]]] = {}

    # -- the loop --------------------------------------------------------------------------

    def run_once(self) -> StepResult:
        self.cursor["started"] = True
        while self.delay is None:
            phase = self.cursor.get("phase", "products")
            if phase == "products":
                if not self._products_chunk():
                    self._end_products()
            elif phase == "drift":
                if not self._drift_chunk():
                    return self._finish()
            else:
                return self._finish()
            if self.report.stopped or self.report.retryable is not None:
                break
            if self.delay is None and (time.monotonic() > self.deadline or self.yield_when()):
                self.delay = 0.0
        if self.report.stopped is None and self.report.retryable is None:
            self._flush()
        if self.report.stopped or self.report.retryable is not None:
            finish_run(self.run, self.report)
            return StepResult(self.report, done=self.report.stopped is not None)
        return StepResult(self.report, done=False, delay=self.delay or 0.0)

    def _others_wait_after_slice(self) -> bool:
        """The default stop rule: other work waits, and this step has had its minimum slice."""
        slice_done = time.monotonic() - self.started >= min_slice_seconds()
        return slice_done and other_work_waiting()

    def _budget(self) -> int | None:
        """Requests this chunk may plan for, or None when the step must stop for the quota."""
        budget: Budget = self.pacer.budget(self.merchant.store_hash)
        if budget.available is None:
            return CHUNK  # quota not known yet: the first answers tell it
        if budget.available <= RESERVE:
            self.delay = budget.refill_in
            return None
        return min(CHUNK, budget.available - RESERVE)

    def _progress(self, bindo_id: int) -> None:
        """Inside a chunk (creates cost a request each): show progress at least every 10 %
        of the run or every 50 products, whichever comes first. Display only: the cursor is
        saved at the end of the chunk."""
        pos = self.positions.get(bindo_id)
        if pos is None or not self.total:
            return
        every = max(1, min(CHUNK, self.total // 10))
        if pos + 1 - self.shown >= every:
            self.shown = self.run.done = min(pos + 1, self.total)
            db.session.commit()

    def _save(self, pos: int) -> None:
        self.cursor["pos"] = pos
        self.cursor["store_empty"] = self.engine.store_empty
        self.run.cursor = dict(self.cursor)
        db.session.commit()

    def _merge(self, part: SyncReport, *, everything: bool = False) -> None:
        left = [o for o in part.outcomes if o.action == INTERRUPTED]
        if left:
            # Creates the engine left for the next step: not done, not counted; the cursor
            # stays before the first of them and this step ends now.
            part.outcomes = [o for o in part.outcomes if o.action != INTERRUPTED]
            self.interrupted.update(o.bindo_id for o in left)
            self.delay = 0.0
        self.report.merge(part)
        add_items(self.run, part, everything=everything)
        _count(self.run, part)

    # -- products (Bindo pages, or a retry's ids) ------------------------------------------

    def _products_chunk(self) -> bool:
        """Sync the next chunk; False when there is none left."""
        pos = int(self.cursor.get("pos", 0))
        ids = self.cursor.get("ids")
        if ids is not None:
            self.total = self.run.total = len(ids)
            if pos >= len(ids):
                return False
        size = self._budget()
        if size is None:
            return True
        if ids is not None:
            chunk_ids = [int(i) for i in ids[pos : pos + size]]
            self.positions.update({i: pos + n for n, i in enumerate(chunk_ids)})
            part = self.engine.sync_ids(chunk_ids, force=chunk_ids)
            seen = {o.bindo_id for o in part.outcomes}
            for missing in sorted(set(chunk_ids) - seen):
                db.session.add(
                    SyncRunItem(
                        run_id=self.run.id,
                        bindo_product_id=missing,
                        action="error",
                        message="not in Bindo",
                    )
                )
            self._merge(part, everything=True)
        else:
            page, offset = divmod(pos, PER_PAGE)
            records = self._page(page + 1)[offset : offset + size]
            if not records:
                return False
            self.positions.update(
                {int(r["id"]): pos + n for n, r in enumerate(records) if "id" in r}
            )
            part = self.engine.sync_records(records)
            self._merge(part)
            chunk_ids = records
            self._watermark(records)
        if part.stopped or part.retryable is not None:
            # The saved cursor stays where it was (before any kept-back update): the retry
            # (RQ) starts there, and what this chunk did write is "unchanged" then.
            db.session.commit()
            return True
        end = pos + len(chunk_ids)
        carried = [self.positions[i] for i in self.engine.carried_ids() if i in self.positions]
        left = [self.positions[i] for i in self.interrupted if i in self.positions]
        if left:
            end = min(left)  # the next step starts with the first create left undone
        # Kept-back updates are not written yet: the cursor stays before the first of them.
        self.shown = self.run.done = end
        self._save(min([end, *carried]))
        self.cursor["pos"] = end
        return True

    def _page(self, number: int) -> list[dict[str, Any]]:
        """Bindo's page ``number`` (read once per step) and the run's total from its meta."""
        if self._pages.get(number) is None:
            records, total = self.engine.bindo.product_page(number, self.cursor.get("since"))
            self._pages = {number: records}
            self.total = self.run.total = total
        return self._pages[number]

    def _watermark(self, records: list[dict[str, Any]]) -> None:
        stamps = [parse_bindo_time(r.get("updated_at")) for r in records]
        latest = max((s for s in stamps if s is not None), default=None)
        known = parse_bindo_time(self.cursor.get("watermark"))
        if latest is not None and (known is None or latest > known):
            self.cursor["watermark"] = latest.isoformat()

    def _flush(self, *, assign_all: bool = False) -> None:
        """Write the kept-back updates; the cursor then stands after every product seen."""
        part = self.engine.flush(assign_all=assign_all)
        self._merge(part)
        if part.retryable is None and not part.stopped:
            self._save(int(self.cursor.get("pos", 0)))
        else:
            db.session.commit()

    def _end_products(self) -> None:
        self._flush(assign_all=True)
        if self.report.stopped or self.report.retryable is not None:
            return
        watermark = parse_bindo_time(self.cursor.get("watermark"))
        if self.run.kind in FULL_KINDS | {"reconcile"} and watermark is not None:
            # Reconciles resume from here; Bindo's updated_since is inclusive: nothing missed.
            current = self.merchant.bindo_watermark
            if current is None or watermark > current:
                self.merchant.bindo_watermark = watermark
        self.cursor["phase"] = "drift" if self.run.kind == "reconcile" else "done"
        self.cursor["drift_after"] = 0
        self._save(int(self.cursor.get("pos", 0)))

    # -- drift (reconcile) -----------------------------------------------------------------

    def _drift_chunk(self) -> bool:
        """Check the next 50 bound products (1 read) and repair the drifted ones."""
        if self._budget() is None:
            return True
        after = int(self.cursor.get("drift_after", 0))
        bc_ids = list(
            db.session.scalars(
                select(ProductBinding.bc_product_id)
                .where(
                    ProductBinding.merchant_id == self.merchant.id,
                    ProductBinding.bc_product_id > after,
                )
                .order_by(ProductBinding.bc_product_id)
                .limit(CHUNK)
            )
        )
        if not bc_ids:
            return False
        drifted = find_drift(self.merchant, self.engine.bc, bc_ids)
        ids = [b.bindo_product_id for b in drifted]
        if ids:
            part = self.engine.sync_ids(ids, force=ids)
            self._merge(part)
            if part.stopped or part.retryable is not None:
                return True
        self.run.drift = (self.run.drift or 0) + len(ids)
        self.cursor["drift_after"] = int(bc_ids[-1])
        self._save(int(self.cursor.get("pos", 0)))
        return True

    # -- the end ---------------------------------------------------------------------------

    def _finish(self) -> StepResult:
        self._flush()
        if self.run.kind == "reconcile":
            drift = self.run.drift or 0
            self.merchant.last_drift_count = drift
            self.merchant.last_reconciled_at = utcnow()
            if drift > DRIFT_ALERT_THRESHOLD:
                raise_alert(
                    "reconcile_drift",
                    f"{drift} products of {self.merchant.store_hash} had Bindo-owned fields "
                    "(price, name, SKU...) changed in BigCommerce; they were overwritten with "
                    "Bindo's values. Someone may be editing them in BigCommerce instead of "
                    "Bindo.",
                    merchant=self.merchant,
                )
        self.run.done = max(self.run.done or 0, self.run.total or 0)
        self.cursor["phase"] = "done"
        self.run.cursor = dict(self.cursor)
        finish_run(self.run, self.report)
        return StepResult(self.report, done=True)


def run_step(run: SyncRun, merchant: Merchant, **options: Any) -> StepResult:
    """Run one step of ``run``; see the module docstring."""
    return Step(run, merchant, **options).run_once()
