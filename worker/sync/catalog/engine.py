"""The catalog export engine, Bindo -> BigCommerce: one skeleton for every product push
(STYLE habit 10).

fetch (Bindo's current state) -> map (shared.mapping) -> skip when the payload hash is
unchanged -> lock per product (Redis) -> write (create / link / batched update / hide) ->
bind (ProductBinding). Errors are typed: a MappingError or a final API error fails that one
product and waits for a fix; a retryable API error is recorded and then fails the job so RQ
retries it. See docs/catalog-sync.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncState
from portal.queue import DEFAULT, enqueue, make_job_id
from shared.mapping import (
    MappedProduct,
    MappingError,
    MappingSettings,
    build_create_payload,
    decide_visibility,
    map_product,
    payload_hash,
)
from worker.clients.bc_catalog import PRODUCT_BATCH
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.bindo import BindoClient
from worker.clients.errors import ApiError, CircuitOpen, RetryableError, Unauthorized
from worker.context import bc_client, bindo_client, mark_needs_reauth, redis
from worker.sync.catalog import variants as variant_sync
from worker.sync.catalog.errors import ProductError, clear_error, record_error
from worker.sync.catalog.handlers import PUSH_JOB
from worker.sync.catalog.locks import ProductLocks
from worker.sync.catalog.report import Outcome, SyncReport
from worker.sync.catalog.variants import VariantPlan, VariantState
from worker.sync.catalog.writer import ProductWriter
from worker.sync.categories import CategoryResolver

INTERRUPTED = "interrupted"  # outcome of a create left for the next step (never counted)
CHANNEL_ERROR = "bc_channel_assignment"  # the binding's error_code when assigning failed
CHUNK = 50  # products per batch in full syncs and drift checks (1 SKU lookup per 50)
# How long the stock push of the products a run's steps create waits, gathering the products
# of every step meanwhile into one push (each such product is out of stock online this much
# longer after its creation, during an initial or full sync only).
NEW_STOCK_PUSH_DELAY_SECONDS = 10


# --- the plan of one product -----------------------------------------------------------------


@dataclass
class Plan:
    """One product's decision, before any write."""

    record: dict[str, Any]
    bindo_id: int
    binding: ProductBinding | None
    mapped: MappedProduct | None = None
    category_ids: list[int] = field(default_factory=list)
    payload: dict[str, Any] | None = None  # create payload (the hashed full state)
    hash: str | None = None
    step: str = ""  # create | update | hide | offline | skip | unchanged | failed
    error: Exception | None = None
    linked_by: str | None = None  # "sku" / "upc" once an existing product was found
    variants: VariantPlan | None = None  # products with variants (catalog/variants.py)

    @property
    def bc_id(self) -> int | None:
        return self.binding.bc_product_id if self.binding is not None else None


def _for_product(exc: MappingError, bindo_id: int) -> MappingError:
    return MappingError(exc.field, exc.message, code=exc.code, value=exc.value, product_id=bindo_id)


def _offline_hash(mapped: MappedProduct) -> str:
    return payload_hash({"offline": mapped.skip_reason}, ())


def _is_stale(record: Mapping[str, Any], binding: ProductBinding | None) -> bool:
    """A record older than the one already pushed (e.g. a long full sync's early read)."""
    seen = binding.bindo_updated_at if binding is not None else None
    now = record.get("updated_at")
    return bool(seen and isinstance(now, str) and now < seen)


# --- the engine ------------------------------------------------------------------------------


class CatalogSync(ProductWriter):
    """Sync engine for one merchant and one run; reuse it across the batches of a run."""

    def __init__(
        self,
        merchant: Merchant,
        *,
        bc: BigCommerceClient | None = None,
        bindo: BindoClient | None = None,
        dry_run: bool = False,
        refresh_store: bool = False,
        batch_across_calls: bool = False,
        store_empty: bool | None = None,
    ) -> None:
        self.merchant = merchant
        self.merchant_id = merchant.id  # read without reloading the row each commit expires
        self.bc = bc or bc_client(merchant)
        self.bindo = bindo or bindo_client(merchant)
        self.dry_run = dry_run
        self.refresh_store = refresh_store
        self.categories = CategoryResolver(
            merchant,
            self.bc,
            create_missing=bool(merchant.create_missing_categories) and not dry_run,
            dry_run=dry_run,
        )
        self.locks = ProductLocks(redis(), merchant.store_hash)
        self._settings: MappingSettings | MappingError | None = None
        self._channels: list[int] | None = None
        # A full sync (refresh_store) first asks whether the store has any product at all: an
        # empty store has nothing to link, so the SKU/UPC look-ups are skipped for the run.
        # A resumed run passes what its first step learnt (store_empty).
        self._store_empty: bool | None = store_empty
        if store_empty is None and not refresh_store:
            self._store_empty = False
        # A full sync keeps fewer than 10 pending updates (and their locks) for the next call,
        # so every batch PUT carries 10 products; flush() sends the rest.
        self.batch_across_calls = batch_across_calls
        self._carry: list[Plan] = []
        self._variants = VariantState()  # variant writes kept back to fill batches of 50
        # Asked every few creates; True stops the batch early (see INTERRUPTED).
        self.interrupt: Callable[[], bool] | None = None
        # Told the Bindo id of each product created (a run's progress between chunks).
        self.progress: Callable[[int], None] | None = None

    @property
    def store_empty(self) -> bool | None:
        """Whether the store had no product when this run first asked (None: not asked)."""
        return self._store_empty

    def carried_ids(self) -> list[int]:
        """Products whose update is kept back for a fuller batch (their locks are held)."""
        return [p.bindo_id for p in self._carry]

    # -- entry points ----------------------------------------------------------------------

    def sync_ids(self, bindo_ids: Iterable[int], *, force: Iterable[int] = ()) -> SyncReport:
        """Fetch the products' current state from Bindo and sync them (ids unknown to Bindo
        are ignored: there is nothing to push)."""
        ids = sorted({int(i) for i in bindo_ids})
        if not ids:
            return SyncReport()
        records = self.bindo.get_products(ids)
        return self.sync_records(records, force=force)

    def sync_records(
        self, records: Sequence[dict[str, Any]], *, force: Iterable[int] = ()
    ) -> SyncReport:
        """Sync one batch of Bindo records (at most a few hundred)."""
        forced = {int(i) for i in force}
        report = SyncReport()
        if self.merchant.state != "active" and not self.dry_run:
            report.stopped = f"merchant is {self.merchant.state}"
            return report
        try:
            records = [record for record in records if "id" in record]
            bindings = self._bindings(int(record["id"]) for record in records)
            plans = [self._plan(r, forced, bindings.get(int(r["id"]))) for r in records]
            if self.dry_run:
                return self._dry_run(plans)
            self._write(plans, forced, report)
            self._publish_stock(report)
        except Unauthorized as exc:
            db.session.rollback()
            mark_needs_reauth(self.merchant, exc)
            report.stopped = "needs_reauth"
        finally:
            if not self.dry_run:
                keep = {p.bindo_id for p in self._carry} | self._variants.held()
                self.locks.release_all(keep=keep)
        return report

    def flush(self, *, assign_all: bool = False) -> SyncReport:
        """Send the updates kept back by ``batch_across_calls`` (end of a step); with
        ``assign_all`` (end of a run's products) also every pending channel assignment."""
        report = SyncReport()
        carried, self._carry = self._carry, []
        if carried and self.merchant.state != "active":
            report.stopped = f"merchant is {self.merchant.state}"
            carried = []  # the run stopped (paused, needs re-auth): the next sync sends them
        if self.merchant.state != "active":
            self._variants.carry = []
        try:
            self._send_updates(carried, report, final=True)
            report.outcomes.extend(variant_sync.send(self, final=True))
            if assign_all and self.merchant.state == "active":
                self.assign_pending(final=True)
        except Unauthorized as exc:
            db.session.rollback()
            mark_needs_reauth(self.merchant, exc)
            report.stopped = "needs_reauth"
        finally:
            self.locks.release_all()
        return report

    def _publish_stock(self, report: SyncReport) -> None:
        """A product new to BigCommerce starts at 0 (out of stock): send its Bindo level now
        rather than at the next stock reconciliation. In a run's steps (``batch_across_calls``)
        the push waits NEW_STOCK_PUSH_DELAY_SECONDS, so the steps of that time share one push
        (one job per step was half of all the jobs of 10 stores' initial syncs)."""
        fresh = [o.bindo_id for o in report.outcomes if o.action in {"created", "linked"}]
        if fresh:
            from worker.sync.stock import request_push  # stock builds on catalog bindings

            delay = NEW_STOCK_PUSH_DELAY_SECONDS if self.batch_across_calls else None
            request_push(self.merchant, fresh, delay=delay)

    # -- settings --------------------------------------------------------------------------

    def settings(self) -> MappingSettings:
        """MappingSettings for this merchant, built once per run; the store's weight unit is
        read from BigCommerce on full syncs (or when unknown) and kept on the merchant."""
        if self._settings is None:
            unit = self.merchant.weight_unit
            if self.refresh_store or not unit or self.merchant.bc_multi_storefront is None:
                store = self.bc.get_store()
                unit = str(store.get("weight_units") or "")
                msf = (store.get("features") or {}).get("multi_storefront_enabled")
                msf = msf if isinstance(msf, bool) else None
                known = (self.merchant.weight_unit, self.merchant.bc_multi_storefront)
                if unit and (unit, msf) != known and not self.dry_run:
                    self.merchant.weight_unit = unit
                    self.merchant.bc_multi_storefront = msf
                    self._channels = None
                    db.session.commit()
            try:
                self._settings = MappingSettings(
                    store_weight_unit=unit,
                    default_category_id=self.merchant.default_category_id,
                    content_managed_by=self.merchant.content_managed_by or "bindo",
                    allow_orders_when_out_of_stock=bool(self.merchant.allow_out_of_stock_orders),
                    safety_buffer=int(self.merchant.safety_buffer or 0),
                )
            except MappingError as exc:
                self._settings = exc
        if isinstance(self._settings, MappingError):
            raise self._settings
        return self._settings

    # -- 1. plan (reads only: Bindo record, DB, category cache/tree) ------------------------

    def _binding(self, bindo_id: int) -> ProductBinding | None:
        return self._bindings([bindo_id]).get(bindo_id)

    def _bindings(self, bindo_ids: Iterable[int]) -> dict[int, ProductBinding]:
        """The bindings of these products, in one query (a chunk plans up to 50)."""
        ids = list(bindo_ids)
        if not ids:
            return {}
        rows = db.session.scalars(
            select(ProductBinding).where(
                ProductBinding.merchant_id == self.merchant.id,
                ProductBinding.bindo_product_id.in_(ids),
            )
        )
        return {b.bindo_product_id: b for b in rows}

    def _plan(
        self, record: dict[str, Any], forced: set[int], binding: ProductBinding | None
    ) -> Plan:
        bindo_id = int(record["id"])
        plan = Plan(record, bindo_id, binding)
        try:
            mapped = map_product(record, self.settings())
        except MappingError as exc:
            # A copy per product: a settings error is one object shared by the whole batch.
            plan.step, plan.error = "failed", _for_product(exc, bindo_id)
            return plan
        plan.mapped = mapped
        if mapped.action == "skip":
            plan.hash = _offline_hash(mapped)
            bound = plan.bc_id is not None
            if not bound:
                plan.step = "skip"
            elif decide_visibility(False, plan.binding.last_online) is False:
                plan.step = "hide"
            else:
                plan.step = "offline"  # already hidden by us: nothing to send
        else:
            try:
                assert mapped.category is not None
                plan.category_ids = self.categories.resolve(mapped.category, bindo_id)
            except MappingError as exc:
                plan.step, plan.error = "failed", exc
                return plan
            plan.payload = build_create_payload(mapped, plan.category_ids)
            plan.hash = payload_hash(plan.payload, mapped.images)
            variant_sync.prepare(self, plan)
            if plan.step == "failed":
                return plan
            plan.step = "update" if plan.bc_id is not None else "create"
        if bindo_id not in forced and self._up_to_date(plan):
            plan.step = "unchanged"
        if plan.step == "unchanged" and variant_sync.pending(self, plan):
            plan.step = "variants"  # product fields unchanged, variants to write
        return plan

    @staticmethod
    def _up_to_date(plan: Plan) -> bool:
        binding = plan.binding
        if binding is None or plan.step == "variants":
            return False
        if _is_stale(plan.record, binding):
            return True
        return binding.last_payload_hash is not None and binding.last_payload_hash == plan.hash

    # -- 2. lock, re-check, write, bind -----------------------------------------------------

    def _write(self, plans: list[Plan], forced: set[int], report: SyncReport) -> None:
        for plan in plans:
            if plan.step == "unchanged":
                self._heal_unchanged(plan)
                report.outcomes.append(Outcome(plan.bindo_id, "unchanged", bc_id=plan.bc_id))
        db.session.commit()
        todo = [p for p in plans if p.step != "unchanged"]
        locked = [p for p in todo if self.locks.acquire(p.bindo_id)]
        self.locks.forget_retries([p.bindo_id for p in locked])
        deferred = [p.bindo_id for p in todo if p.bindo_id not in self.locks.held]
        if deferred:
            self._push_later(deferred)
            report.outcomes.extend(
                Outcome(i, "deferred", "locked by another job") for i in deferred
            )
        # A new transaction after taking the locks: whatever the previous holder committed is
        # visible now, so a product it just created is updated or skipped, never created twice.
        db.session.rollback()
        fresh: list[Plan] = []
        bindings = self._bindings(p.bindo_id for p in locked)
        for plan in locked:
            plan.binding = bindings.get(plan.bindo_id)
            if plan.step in ("create", "update"):
                plan.step = "update" if plan.bc_id is not None else "create"
            if plan.bindo_id not in forced and plan.step != "failed" and self._up_to_date(plan):
                report.outcomes.append(Outcome(plan.bindo_id, "unchanged", bc_id=plan.bc_id))
                continue
            fresh.append(plan)
        for plan in fresh:
            if plan.step == "failed":
                report.outcomes.append(self._fail(plan, plan.error))
            elif plan.step in ("skip", "offline"):
                report.outcomes.append(self._bind_offline(plan))
        db.session.commit()
        writes = [p for p in fresh if p.step in ("create", "update", "hide")]
        try:
            creates = [p for p in writes if p.step == "create"]
            self._find_existing(creates)
            created: list[Outcome] = []
            for plan in creates:
                if plan.step == "failed":  # a link refused (already linked, variant clash)
                    message = ProductError.of(plan.bindo_id, plan.error).message
                    report.outcomes.append(Outcome(plan.bindo_id, "failed", message))
            for n, plan in enumerate(creates):
                if plan.step != "create":
                    continue
                if n and self._interrupted():
                    # Other work waits (a resumable run's step gives its worker up): the rest
                    # of the creates are left for the next step, unwritten and unlocked.
                    report.outcomes.extend(
                        Outcome(p.bindo_id, INTERRUPTED) for p in creates[n:] if p.step == "create"
                    )
                    break
                created.append(self._create(plan))
                if self.progress is not None:
                    self.progress(plan.bindo_id)
            report.outcomes.extend(created)
            updates = [p for p in writes if p.step in ("update", "hide")]
            for plan in updates:
                if self._channel_refused(plan):
                    plan.binding.channels_pending = True
            self.assign_pending(final=not self.batch_across_calls)
            self._send_updates(updates, report, final=not self.batch_across_calls)
            left = {o.bindo_id for o in report.outcomes if o.action == INTERRUPTED}
            with_variants = [
                p for p in fresh if p.step in ("update", "variants") and p.bindo_id not in left
            ]
            report.outcomes.extend(
                variant_sync.write(self, with_variants, forced, final=not self.batch_across_calls)
            )
        except CircuitOpen:
            raise
        except RetryableError as exc:
            db.session.rollback()
            report.retryable = exc
            done = {o.bindo_id for o in report.outcomes}
            pending, self._carry = [*writes, *self._carry], []
            for plan in pending:
                if plan.bindo_id not in done:
                    report.outcomes.append(self._fail(plan, exc))
            db.session.commit()

    def channels(self) -> list[int]:
        """The channels a created product is assigned to; none on a store with one
        storefront, which puts API-created products on it (channel 1). Read once per engine,
        like the settings: each create's commit expires the merchant row."""
        if self._channels is None:
            channels = [int(c) for c in (self.merchant.bc_channel_ids or [1])]
            single = channels == [1] and self.merchant.bc_multi_storefront is False
            self._channels = [] if single else channels
        return self._channels

    def assign_pending(self, *, final: bool) -> None:
        """Assign the store's products marked ``channels_pending`` (created, or refused a
        channel earlier) to its channels: a product on no channel is not sellable on a
        multi-storefront store. With ``final`` whatever is marked; otherwise only once a
        chunk's worth is, so a run's small steps share their assignments (the mark is on the
        binding, so a step that dies in between leaves nothing unassigned for good).

        A refusal is recorded on the products' bindings (Sync errors; the next push of such a
        product marks it again); a retryable error is raised like any write's, and the marks
        stay for the next call.
        """
        channels = self.channels()
        if not channels:
            return  # nothing is marked on a store with one storefront
        bc_ids = sorted(
            db.session.scalars(
                select(ProductBinding.bc_product_id).where(
                    ProductBinding.merchant_id == self.merchant.id,
                    ProductBinding.channels_pending.is_(True),
                    ProductBinding.bc_product_id.is_not(None),
                )
            )
        )
        if not bc_ids or (len(bc_ids) < CHUNK and not final):
            return
        refused: ApiError | None = None
        try:
            self.bc.assign_channels(bc_ids, channels)
        except (RetryableError, Unauthorized):
            raise
        except ApiError as exc:
            refused = exc
        for binding in db.session.scalars(
            select(ProductBinding).where(
                ProductBinding.merchant_id == self.merchant.id,
                ProductBinding.bc_product_id.in_(bc_ids),
            )
        ):
            binding.channels_pending = False
            if refused is not None:
                record_error(binding, refused)
                binding.error_code = CHANNEL_ERROR
        db.session.commit()

    @staticmethod
    def _channel_refused(plan: Plan) -> bool:
        """A product whose channel assignment failed earlier: assign it with this push."""
        binding = plan.binding
        refused = binding is not None and binding.error_code == CHANNEL_ERROR
        return refused and plan.bc_id is not None

    def _send_updates(self, updates: list[Plan], report: SyncReport, *, final: bool) -> None:
        """Batch PUTs of 10; unless ``final``, fewer than 10 left over wait for the next call."""
        queued = [*self._carry, *updates]
        keep = 0 if final else len(queued) % PRODUCT_BATCH
        self._carry = queued[len(queued) - keep :] if keep else []
        batches = list(chunks(queued[: len(queued) - keep], PRODUCT_BATCH))
        for n, batch in enumerate(batches):
            if n and not final and self._interrupted():
                # Like the creates: the rest waits for the next step, which starts before it.
                left = [*(p for rest in batches[n:] for p in rest), *self._carry]
                self._carry = []
                report.outcomes.extend(Outcome(p.bindo_id, INTERRUPTED) for p in left)
                return
            report.outcomes.extend(self._update_chunk(batch))

    def _interrupted(self) -> bool:
        """Asked before each create and each batch PUT after the first (two Redis LLENs): a
        waiting order or stock change waits for one write at most, not a chunk."""
        return self.interrupt is not None and self.interrupt()

    def _heal_unchanged(self, plan: Plan) -> None:
        """Same data as the last success but marked failed (the fix was undone): clear it."""
        binding = plan.binding
        if (
            binding is not None
            and binding.sync_state == SyncState.FAILED.value
            and binding.last_payload_hash == plan.hash
        ):
            clear_error(binding)
            binding.sync_state = (
                SyncState.SYNCED.value if binding.last_online else SyncState.HIDDEN.value
            )

    def _push_later(self, bindo_ids: list[int]) -> None:
        for bindo_id in bindo_ids:
            enqueue(
                PUSH_JOB,
                self.merchant.id,
                [bindo_id],
                queue=DEFAULT,
                job_id=make_job_id("push", "product", self.merchant.store_hash, bindo_id, "locked"),
                merchant_id=self.merchant.id,
                delay=self.locks.retry_delay(bindo_id),
            )

    # -- dry run ---------------------------------------------------------------------------

    def _dry_run(self, plans: list[Plan]) -> SyncReport:
        """The same decisions, reads only. Outcome actions: created (to create), linked (to
        link, message says by SKU or UPC), updated, hidden, unchanged, skipped, failed."""
        report = SyncReport()
        creates = [p for p in plans if p.step == "create"]
        skus = [p.mapped.sku for p in creates if p.mapped and p.mapped.sku]
        found_skus = {
            str(p.get("sku") or "").casefold()
            for p in (self.bc.find_products_by_skus(skus) if skus else [])
        }
        found_variants = variant_sync.dry_lookup(self, plans)
        for plan in plans:
            outcome = self._dry_outcome(plan, found_skus)
            if plan.variants is not None and plan.step != "failed":
                outcome = variant_sync.dry_outcome(self, plan, outcome, found_variants)
            report.outcomes.append(outcome)
        return report

    def _dry_outcome(self, plan: Plan, found_skus: set[str]) -> Outcome:
        mapped = plan.mapped
        if plan.step == "failed":
            return Outcome(
                plan.bindo_id, "failed", ProductError.of(plan.bindo_id, plan.error).message
            )
        if plan.step == "create" and mapped is not None:
            if mapped.sku and mapped.sku.casefold() in found_skus:
                return Outcome(plan.bindo_id, "linked", f"link by SKU {mapped.sku}")
            if mapped.upc and self.bc.find_products_by_upc(mapped.upc):
                return Outcome(plan.bindo_id, "linked", f"link by UPC {mapped.upc}")
            return Outcome(plan.bindo_id, "created", f"create '{mapped.name}'")
        action = {
            "update": "updated",
            "variants": "updated",
            "hide": "hidden",
            "skip": "skipped",
            "offline": "unchanged",
            "unchanged": "unchanged",
        }[plan.step]
        message = mapped.skip_reason if mapped is not None and action == "skipped" else None
        return Outcome(plan.bindo_id, action, message, plan.bc_id)


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def parse_bindo_time(value: Any) -> datetime | None:
    """Bindo's ISO-8601 'Z' timestamps as aware datetimes (None when absent or malformed)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
