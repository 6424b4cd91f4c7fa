"""The catalog export engine, Bindo -> BigCommerce: one skeleton for every product push
(STYLE habit 10).

fetch (Bindo's current state) -> map (shared.mapping) -> skip when the payload hash is
unchanged -> lock per product (Redis) -> write (create / link / batched update / hide) ->
bind (ProductBinding). Errors are typed: a MappingError or a final API error fails that one
product and waits for a fix; a retryable API error is recorded and then fails the job so RQ
retries it. See docs/catalog-sync.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Merchant,
    ProductBinding,
    SyncState,
    utcnow,
)
from portal.queue import DEFAULT, enqueue, make_job_id
from shared.mapping import (
    MappedProduct,
    MappingError,
    MappingSettings,
    build_create_payload,
    build_hide_payload,
    build_update_payload,
    decide_visibility,
    map_product,
    payload_hash,
)
from worker.clients.bc_catalog import PRODUCT_BATCH
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.bindo import BindoClient
from worker.clients.errors import (
    ApiError,
    CircuitOpen,
    Conflict,
    NotFound,
    RetryableError,
    Unauthorized,
)
from worker.context import bc_client, bindo_client, mark_needs_reauth, redis
from worker.sync.catalog import variants as variant_sync
from worker.sync.catalog.errors import NameClash, ProductError, clear_error, record_error
from worker.sync.catalog.handlers import PUSH_JOB
from worker.sync.catalog.locks import ProductLocks
from worker.sync.catalog.report import Outcome, SyncReport
from worker.sync.catalog.variants import VariantPlan, VariantState
from worker.sync.categories import CategoryResolver
from worker.sync.images import (
    IMAGES_KEY,
    images_changed,
    images_signature,
    inline_image_map,
    sync_images,
)

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"  # outcome of a create left for the next step (never counted)
INTERRUPT_EVERY = 5  # creates between two questions to ``interrupt``
CHANNEL_ERROR = "bc_channel_assignment"  # the binding's error_code when assigning failed
CHUNK = 50  # products per batch in full syncs and drift checks (1 SKU lookup per 50)


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


class CatalogSync:
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
            plans = [self._plan(record, forced) for record in records if "id" in record]
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

    def flush(self) -> SyncReport:
        """Send the updates kept back by ``batch_across_calls`` (end of a full sync)."""
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
        except Unauthorized as exc:
            db.session.rollback()
            mark_needs_reauth(self.merchant, exc)
            report.stopped = "needs_reauth"
        finally:
            self.locks.release_all()
        return report

    def _publish_stock(self, report: SyncReport) -> None:
        """A product new to BigCommerce starts at 0 (out of stock): send its Bindo level now
        rather than at the next stock reconciliation."""
        fresh = [o.bindo_id for o in report.outcomes if o.action in {"created", "linked"}]
        if fresh:
            from worker.sync.stock import request_push  # stock builds on catalog bindings

            request_push(self.merchant, fresh)

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
        return db.session.scalar(
            select(ProductBinding).where(
                ProductBinding.merchant_id == self.merchant.id,
                ProductBinding.bindo_product_id == bindo_id,
            )
        )

    def _plan(self, record: dict[str, Any], forced: set[int]) -> Plan:
        bindo_id = int(record["id"])
        plan = Plan(record, bindo_id, self._binding(bindo_id))
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
        for plan in locked:
            plan.binding = self._binding(plan.bindo_id)
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
                if n % INTERRUPT_EVERY == 0 and n and self.interrupt and self.interrupt():
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
            self._assign_channels(
                [o for o in created if o.action == "created"]
                + [o for p in updates if (o := self._unassigned(p)) is not None]
            )
            self._send_updates(updates, report, final=not self.batch_across_calls)
            with_variants = [p for p in fresh if p.step in ("update", "variants")]
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

    def _assign_channels(self, outcomes: list[Outcome]) -> None:
        """One channel-assignments request for the products this batch created (a product on
        no channel is not sellable on a multi-storefront store); nothing when none was.

        A refusal is recorded on the products' bindings (Sync errors; the next push of such a
        product assigns it again); a retryable error is raised like any write's.
        """
        bc_ids = sorted({int(o.bc_id) for o in outcomes if o.bc_id is not None})
        channels = [int(c) for c in (self.merchant.bc_channel_ids or [1])]
        if not bc_ids or (channels == [1] and self.merchant.bc_multi_storefront is False):
            return  # a store with one storefront puts API-created products on it (channel 1)
        try:
            self.bc.assign_channels(bc_ids, channels)
        except (RetryableError, Unauthorized):
            raise
        except ApiError as exc:
            for binding in db.session.scalars(
                select(ProductBinding).where(
                    ProductBinding.merchant_id == self.merchant.id,
                    ProductBinding.bc_product_id.in_(bc_ids),
                )
            ):
                record_error(binding, exc)
                binding.error_code = CHANNEL_ERROR
            db.session.commit()

    @staticmethod
    def _unassigned(plan: Plan) -> Outcome | None:
        """A product whose channel assignment failed earlier: assign it with this push."""
        binding = plan.binding
        if binding is None or binding.error_code != CHANNEL_ERROR or plan.bc_id is None:
            return None
        return Outcome(plan.bindo_id, "assign", bc_id=plan.bc_id)

    def _send_updates(self, updates: list[Plan], report: SyncReport, *, final: bool) -> None:
        """Batch PUTs of 10; unless ``final``, fewer than 10 left over wait for the next call."""
        queued = [*self._carry, *updates]
        keep = 0 if final else len(queued) % PRODUCT_BATCH
        self._carry = queued[len(queued) - keep :] if keep else []
        for chunk in chunks(queued[: len(queued) - keep], PRODUCT_BATCH):
            report.outcomes.extend(self._update_chunk(chunk))

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

    def _ensure_binding(self, plan: Plan) -> ProductBinding:
        if plan.binding is None:
            plan.binding = ProductBinding(
                merchant_id=self.merchant.id,
                bindo_product_id=plan.bindo_id,
                image_map={},
                attempts=0,
            )
            db.session.add(plan.binding)
        binding = plan.binding
        if plan.mapped is not None and plan.mapped.action == "upsert":
            binding.name = plan.mapped.name[:255]
            binding.sku = plan.mapped.sku
            binding.upc = plan.mapped.upc
        else:
            # Mapping failed: keep Bindo's own name and SKU so staff can search for them.
            binding.name = binding.name or str(plan.record.get("name") or "")[:255]
            binding.sku = binding.sku or (str(plan.record.get("sku") or "")[:255] or None)
        return binding

    def _fail(self, plan: Plan, exc: Exception | None) -> Outcome:
        binding = self._ensure_binding(plan)
        err = record_error(binding, exc or RuntimeError("unknown error"))
        log.info("product %s failed: %s", plan.bindo_id, err.code)
        return Outcome(plan.bindo_id, "failed", err.message, binding.bc_product_id)

    def _bind_offline(self, plan: Plan) -> Outcome:
        """In Store Only / deleted and nothing to send: never pushed, or already hidden."""
        if plan.step == "skip" and plan.binding is None and plan.record.get("deleted"):
            # A deleted product we never pushed: nothing to show anyone, no row.
            return Outcome(plan.bindo_id, "skipped", "deleted in Bindo, never pushed")
        binding = self._ensure_binding(plan)
        clear_error(binding)
        binding.last_payload_hash = plan.hash
        binding.bindo_updated_at = plan.record.get("updated_at")
        binding.last_synced_at = utcnow()
        if plan.step == "skip":
            binding.sync_state = SyncState.SKIPPED.value
            return Outcome(plan.bindo_id, "skipped", plan.mapped.skip_reason if plan.mapped else "")
        binding.sync_state = SyncState.HIDDEN.value
        return Outcome(plan.bindo_id, "unchanged", "already hidden", binding.bc_product_id)

    # -- creates: link an existing product first, else create -------------------------------

    def _find_existing(self, creates: list[Plan]) -> None:
        """Look for each new product in BigCommerce by SKU (1 request per 50), then UPC."""
        if not creates or self._empty_store():
            return
        variant_sync.find_existing(self, creates)  # products with variants: by variant SKU
        creates = [p for p in creates if p.step == "create"]
        taken = self._bound_bc_ids()
        skus = [p.mapped.sku for p in creates if p.mapped and p.mapped.sku]
        by_sku: dict[str, dict[str, Any]] = {}
        for product in self.bc.find_products_by_skus(skus) if skus else []:
            by_sku.setdefault(str(product.get("sku") or "").casefold(), product)
        for plan in creates:
            mapped = plan.mapped
            assert mapped is not None
            found = by_sku.get(mapped.sku.casefold()) if mapped.sku else None
            how = "sku"
            if found is None and mapped.upc:
                found = next(iter(self.bc.find_products_by_upc(mapped.upc)), None)
                how = "upc"
            if found is None:
                continue
            bc_id = int(found["id"])
            if bc_id in taken:
                plan.step, plan.error = (
                    "failed",
                    MappingError(
                        how,
                        f"BigCommerce product {bc_id} has the same {how.upper()} "
                        f"'{getattr(mapped, how)}' but is already linked to another Bindo product",
                        code=f"{how}_already_linked",
                        value=getattr(mapped, how),
                        product_id=plan.bindo_id,
                    ),
                )
                self._fail(plan, plan.error)
                db.session.commit()
                continue
            taken.add(bc_id)
            binding = self._ensure_binding(plan)
            binding.bc_product_id = bc_id
            binding.image_map = {}
            binding.last_online = None
            db.session.commit()  # bind first: a crash now leaves a link, never a duplicate
            plan.step, plan.linked_by = "update", how

    def _empty_store(self) -> bool:
        if self._store_empty is None:
            self._store_empty = self.bc.count_products() == 0
        return self._store_empty

    def _bound_bc_ids(self) -> set[int]:
        rows = db.session.scalars(
            select(ProductBinding.bc_product_id).where(
                ProductBinding.merchant_id == self.merchant.id,
                ProductBinding.bc_product_id.is_not(None),
            )
        )
        return {int(r) for r in rows}

    def _create(self, plan: Plan) -> Outcome:
        """1 request: POST /v3/catalog/products with the images inline."""
        assert plan.mapped is not None and plan.payload is not None
        try:
            row = self.bc.create_product(plan.payload)
        except Conflict as exc:
            clash = self._name_clash(plan, exc)
            outcome = self._fail(plan, clash or exc)
            self._forget_categories(plan, exc)
            db.session.commit()
            return outcome
        except (RetryableError, Unauthorized):
            raise
        except ApiError as exc:
            outcome = self._fail(plan, exc)
            db.session.commit()
            return outcome
        binding = self._ensure_binding(plan)
        binding.bc_product_id = int(row["id"])
        variant_sync.bind_created(self, plan, row)
        images = plan.mapped.images
        self._bind_success(
            plan,
            sent=variant_sync.product_part(plan.payload),
            online=True,
            image_map=inline_image_map(images),
            images_sig=images_signature(images),
        )
        db.session.commit()
        return Outcome(plan.bindo_id, "created", bc_id=binding.bc_product_id)

    def _name_clash(self, plan: Plan, exc: Conflict) -> NameClash | None:
        """A 409 on the name: find the product holding it, so staff can link the two."""
        text = " ".join([str(exc.title), str(exc.message), *map(str, exc.errors)]).lower()
        if "name" not in text or plan.mapped is None:
            return None
        name = plan.mapped.name
        try:
            holders = self.bc.list_products(name=name, include_fields="name")
        except (RetryableError, Unauthorized):
            raise
        except ApiError:
            holders = []
        bc_id = int(holders[0]["id"]) if holders else None
        return NameClash(plan.bindo_id, name, bc_id, exc)

    def _forget_categories(self, plan: Plan, exc: ApiError) -> None:
        """409 on categories: a cached id was deleted in BigCommerce; resolve it afresh."""
        if any("categor" in str(key).lower() for key in exc.errors or {}):
            self.categories.forget(plan.category_ids)

    # -- updates and hides: batched PUTs of 10 ---------------------------------------------

    def _update_item(self, plan: Plan) -> dict[str, Any]:
        bc_id = plan.bc_id
        assert bc_id is not None
        if plan.step == "hide":
            return build_hide_payload(bc_id)
        assert plan.mapped is not None and plan.binding is not None
        visibility = decide_visibility(True, plan.binding.last_online)
        item = build_update_payload(
            plan.mapped, plan.category_ids, bc_id=bc_id, visibility=visibility
        )
        if plan.variants is not None:
            item["inventory_tracking"] = plan.variants.tracking
        return item

    def _update_chunk(self, chunk: list[Plan]) -> list[Outcome]:
        items = {p.bc_id: self._update_item(p) for p in chunk}
        result = self.bc.update_products(list(items.values()))
        outcomes: list[Outcome] = []
        for plan in chunk:
            answer = result.results.get(int(plan.bc_id or 0))
            if isinstance(answer, ApiError):
                outcomes.append(self._update_failed(plan, answer))
            else:
                outcomes.append(self._after_update(plan, items[plan.bc_id]))
            db.session.commit()
        return outcomes

    def _update_failed(self, plan: Plan, exc: ApiError) -> Outcome:
        outcome = self._fail(plan, exc)
        if isinstance(exc, NotFound) and plan.binding is not None:
            # Deleted in BigCommerce: unbind, so a staff retry creates it again.
            plan.binding.bc_product_id = None
            plan.binding.image_map = {}
            plan.binding.last_pushed = None
            plan.binding.last_online = None
            plan.binding.last_payload_hash = None
        if isinstance(exc, Conflict):
            self._forget_categories(plan, exc)
        return outcome

    def _after_update(self, plan: Plan, sent: dict[str, Any]) -> Outcome:
        binding = plan.binding
        assert binding is not None and binding.bc_product_id is not None
        if plan.step == "hide":
            self._bind_success(plan, sent=sent, online=False, image_map=None, images_sig=None)
            return Outcome(plan.bindo_id, "hidden", bc_id=binding.bc_product_id)
        assert plan.mapped is not None
        image_map = dict(binding.image_map or {})
        signature = (binding.last_pushed or {}).get(IMAGES_KEY)
        if plan.mapped.content_managed_by == "bindo" and (
            plan.linked_by or images_changed(plan.mapped.images, binding.last_pushed, image_map)
        ):
            try:
                image_map = sync_images(
                    self.bc, binding.bc_product_id, plan.mapped.images, image_map
                )
            except (RetryableError, Unauthorized):
                raise
            except ApiError as exc:
                # The fields are saved; only the images failed: keep the old hash so the next
                # run tries the images again, and show why.
                return self._fail(plan, exc)
            signature = images_signature(plan.mapped.images)
        self._bind_success(plan, sent=sent, online=True, image_map=image_map, images_sig=signature)
        action = "linked" if plan.linked_by else "updated"
        return Outcome(plan.bindo_id, action, bc_id=binding.bc_product_id)

    def _bind_success(
        self,
        plan: Plan,
        *,
        sent: Mapping[str, Any],
        online: bool,
        image_map: dict[str, int] | None,
        images_sig: list[list[Any]] | None,
    ) -> None:
        """Stamp the binding after a write BigCommerce accepted."""
        binding = self._ensure_binding(plan)
        pushed = dict(binding.last_pushed or {})
        # Merged, because a hide or an update sends fewer fields than the create did: this is
        # our best knowledge of what BigCommerce holds, which drift checks compare against.
        pushed.update({k: v for k, v in sent.items() if k not in ("id", "images")})
        if images_sig is not None:
            pushed[IMAGES_KEY] = images_sig
        binding.last_pushed = pushed
        binding.last_payload_hash = plan.hash
        if "is_visible" in sent or binding.last_online is None:
            binding.last_online = online
        if image_map is not None:
            binding.image_map = image_map
        binding.bindo_updated_at = plan.record.get("updated_at")
        binding.last_synced_at = binding.pushed_at = utcnow()
        binding.sync_state = SyncState.SYNCED.value if online else SyncState.HIDDEN.value
        clear_error(binding)

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
