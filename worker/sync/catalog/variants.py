"""Variants in the catalog sync (docs/catalog-sync.md, "Variants").

Called from a few hooks of the engine, per product and per chunk of 50 variant writes:

- prepare:       map the variants; the create payload carries them inline; the product hash
                 covers the product part only, so a variant edit never re-sends the product
- pending:       a product whose fields are unchanged but whose variants changed (step
                 "variants": no product PUT, only variant writes)
- find_existing: first link by variant SKU, then UPC (GET /v3/catalog/variants?sku:in=)
- bind_created:  VariantBinding rows from the create's answer (0 extra requests)
- write / flush: changed, removed and new variants through PUT /v3/catalog/variants, 50 per
                 request, kept back across calls of a full sync so every request is full

Every write is absolute (updates) or guarded by the variant's SKU (creates), so re-running a
chunk after a crash or a retryable error is safe.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import ProductBinding, VariantBinding, utcnow
from shared.mapping import MappingError, payload_hash
from shared.mapping.variants import (
    MappedVariant,
    build_variant_create_payload,
    has_variants,
    map_variants,
    match_variants,
    missing_option_values,
    option_value_ids,
    removed_variant_item,
    variant_create_item,
    variant_hash,
    variant_label,
    variant_tracking,
    variant_update_item,
)
from worker.clients.bc_catalog import VARIANT_BATCH
from worker.clients.errors import ApiError, Conflict, RetryableError, Unauthorized
from worker.sync.catalog.errors import record_error
from worker.sync.catalog.report import Outcome

if TYPE_CHECKING:
    from worker.sync.catalog.engine import CatalogSync, Plan

log = logging.getLogger(__name__)

VARIANT_ACTIONS = ("variant_created", "variant_linked", "variant_updated", "variant_removed")


@dataclass
class VariantPlan:
    """A product's variants for this run (attached to its engine Plan)."""

    mapped: tuple[MappedVariant, ...]
    tracking: str


@dataclass
class Write:
    """One item of PUT /v3/catalog/variants and what to stamp once BigCommerce took it."""

    bindo_id: int
    variant: MappedVariant | None  # None: a bound variant gone from Bindo's list entirely
    row: VariantBinding | None
    item: dict[str, Any]
    action: str  # one of VARIANT_ACTIONS

    @property
    def label(self) -> str:
        if self.variant is not None:
            return self.variant.label
        return (self.row.label if self.row is not None else None) or "variant"


@dataclass
class VariantState:
    """Per-engine state: variant writes kept back for a full request, per product."""

    carry: list[Write] = field(default_factory=list)

    def held(self) -> set[int]:
        return {w.bindo_id for w in self.carry}


def product_part(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A product payload without its inline variants (what the product hash and drift see)."""
    return {k: v for k, v in payload.items() if k != "variants"}


def _rows(sync: CatalogSync, bindo_id: int) -> dict[int, VariantBinding]:
    found = db.session.scalars(
        select(VariantBinding).where(
            VariantBinding.merchant_id == sync.merchant.id,
            VariantBinding.bindo_product_id == bindo_id,
        )
    )
    return {row.bindo_variant_id: row for row in found}


# --- plan --------------------------------------------------------------------------------------


def prepare(sync: CatalogSync, plan: Plan) -> None:
    """Map the variants of a product that has them (others are left exactly as they are)."""
    mapped = plan.mapped
    if mapped is None or mapped.action != "upsert" or not has_variants(plan.record):
        return
    settings = sync.settings()
    try:
        variants = map_variants(plan.record, settings.weight_unit)
    except MappingError as exc:
        exc.product_id = plan.bindo_id
        plan.step, plan.error = "failed", exc
        return
    tracking = variant_tracking(settings.allow_orders_when_out_of_stock)
    plan.variants = VariantPlan(variants, tracking)
    plan.payload = build_variant_create_payload(mapped, variants, plan.category_ids, tracking)
    plan.hash = payload_hash(product_part(plan.payload), mapped.images)


def pending(sync: CatalogSync, plan: Plan) -> bool:
    """Does a bound product with variants have variant writes to make (cheap, DB only)?"""
    if plan.variants is None or plan.bc_id is None:
        return False
    rows = _rows(sync, plan.bindo_id)
    if not rows:
        return True  # bound but its variants never linked: adopt them
    writes, new = _diff(plan, rows)
    return bool(writes or new)


def _diff(
    plan: Plan, rows: Mapping[int, VariantBinding], force: bool = False
) -> tuple[list[Write], list[MappedVariant]]:
    """(writes for bound variants whose payload changed or that are gone, live new ones)."""
    assert plan.variants is not None
    writes: list[Write] = []
    new: list[MappedVariant] = []
    listed = set()
    for variant in plan.variants.mapped:
        listed.add(variant.bindo_variant_id)
        row = rows.get(variant.bindo_variant_id)
        if row is None or row.bc_variant_id is None:
            if not variant.removed:
                new.append(variant)
            continue
        item = variant_update_item(variant, row.bc_variant_id)
        if force or row.last_hash != variant_hash(item):
            action = "variant_removed" if variant.removed else "variant_updated"
            writes.append(Write(plan.bindo_id, variant, row, item, action))
    for variant_id, row in rows.items():
        if variant_id not in listed and row.bc_variant_id is not None and not row.removed:
            item = removed_variant_item(row.bc_variant_id)
            writes.append(Write(plan.bindo_id, None, row, item, "variant_removed"))
    return writes, new


# --- first link ------------------------------------------------------------------------------


def find_existing(sync: CatalogSync, creates: Sequence[Plan]) -> None:
    """Link new products with variants to an existing BigCommerce product, variant by variant.

    Variant SKUs are looked up 50 per request (``sku:in``), the UPCs of the variants no SKU
    matched likewise. A clash (matches on two BigCommerce products, or on one already linked
    to another Bindo product) fails that product with an error naming the variant.
    """
    plans = [p for p in creates if p.variants is not None and p.step == "create"]
    if not plans:
        return
    skus = [v.sku for p in plans for v in p.variants.mapped if not v.removed]
    found = sync.bc.find_variants_by("sku", skus)
    known = {str(v.get("sku") or "").casefold() for v in found}
    upcs = [
        v.upc
        for p in plans
        for v in p.variants.mapped
        if v.upc and not v.removed and v.sku.casefold() not in known
    ]
    if upcs:
        found.extend(sync.bc.find_variants_by("upc", upcs))
    if not found:
        return
    bound = _bound_products(sync)
    for plan in plans:
        try:
            match = match_variants(plan.variants.mapped, found, bound, plan.bindo_id)
        except MappingError as exc:
            plan.step, plan.error = "failed", exc
            sync._fail(plan, exc)
            db.session.commit()
            continue
        if match.bc_product_id is None:
            continue
        binding = sync._ensure_binding(plan)
        binding.bc_product_id = match.bc_product_id
        binding.image_map = {}
        binding.last_online = None
        bound[match.bc_product_id] = plan.bindo_id
        for variant in plan.variants.mapped:
            bc_variant = match.linked.get(variant.bindo_variant_id)
            if bc_variant is not None:
                _bind_row(sync, plan.bindo_id, variant, match.bc_product_id, bc_variant, None)
        db.session.commit()  # bind first: a crash now leaves a link, never a duplicate
        plan.step, plan.linked_by = "update", "variant SKU"


def _bound_products(sync: CatalogSync) -> dict[int, int]:
    rows = db.session.execute(
        select(ProductBinding.bc_product_id, ProductBinding.bindo_product_id).where(
            ProductBinding.merchant_id == sync.merchant.id,
            ProductBinding.bc_product_id.is_not(None),
        )
    )
    return {int(bc): int(bindo) for bc, bindo in rows}


def _bind_row(
    sync: CatalogSync,
    bindo_id: int,
    variant: MappedVariant,
    bc_product_id: int,
    bc_variant_id: int,
    last_hash: str | None,
    row: VariantBinding | None = None,
) -> VariantBinding:
    if row is None:
        row = db.session.scalar(
            select(VariantBinding).where(
                VariantBinding.merchant_id == sync.merchant.id,
                VariantBinding.bindo_variant_id == variant.bindo_variant_id,
            )
        )
    if row is None:
        row = VariantBinding(
            merchant_id=sync.merchant.id,
            bindo_variant_id=variant.bindo_variant_id,
            stock_pushed={},
        )
        db.session.add(row)
    row.bindo_product_id = bindo_id
    row.bc_product_id = bc_product_id
    row.bc_variant_id = bc_variant_id
    row.sku = variant.sku
    row.label = variant.label[:512]
    row.removed = variant.removed
    row.last_hash = last_hash
    row.last_synced_at = utcnow()
    return row


def bind_created(sync: CatalogSync, plan: Plan, created: Mapping[str, Any]) -> None:
    """After the create: one VariantBinding per variant BigCommerce answered with (by SKU).

    A variant missing from the answer gets no row: the next run adopts it by reading the
    product's variants, so nothing is created twice."""
    if plan.variants is None:
        return
    answered = {
        str(v.get("sku") or "").casefold(): v
        for v in created.get("variants") or []
        if isinstance(v, Mapping)
    }
    bc_product_id = int(created["id"])
    for variant in plan.variants.mapped:
        bc = answered.get(variant.sku.casefold())
        if bc is None or variant.removed:
            continue
        item = variant_update_item(variant, int(bc["id"]))
        _bind_row(sync, plan.bindo_id, variant, bc_product_id, int(bc["id"]), variant_hash(item))


# --- writes ----------------------------------------------------------------------------------


def write(sync: CatalogSync, plans: Iterable[Plan], forced: set[int], *, final: bool) -> list:
    """Queue the variant writes of these products (locked by the caller) and send every full
    batch of 50; unless ``final``, fewer than 50 left over wait for the next call."""
    outcomes: list[Outcome] = []
    for plan in plans:
        if plan.variants is None or plan.bc_id is None:
            continue
        try:
            queued = _queue_product(sync, plan, plan.bindo_id in forced)
        except (RetryableError, Unauthorized):
            raise
        except (ApiError, MappingError) as exc:
            outcomes.append(_fail(sync, plan.bindo_id, exc))
            continue
        sync._variants.carry.extend(queued)
        if plan.step == "variants":
            # The product's own fields are unchanged; its variants are written below.
            outcomes.append(Outcome(plan.bindo_id, "unchanged", "variants only", plan.bc_id))
    db.session.commit()
    outcomes.extend(send(sync, final=final))
    return outcomes


def send(sync: CatalogSync, *, final: bool) -> list[Outcome]:
    state = sync._variants
    keep = 0 if final else len(state.carry) % VARIANT_BATCH
    ready = state.carry[: len(state.carry) - keep]
    state.carry = state.carry[len(state.carry) - keep :] if keep else []
    outcomes: list[Outcome] = []
    for start in range(0, len(ready), VARIANT_BATCH):
        chunk = ready[start : start + VARIANT_BATCH]
        try:
            result = sync.bc.update_variants([w.item for w in chunk])
        except (RetryableError, Unauthorized):
            # Nothing of this chunk is stamped: the retry sends it again (absolute writes).
            state.carry = [*ready[start + VARIANT_BATCH :], *state.carry]
            raise
        for pos, write_ in enumerate(chunk):
            answer = result.results.get(pos)
            outcomes.append(_after_write(sync, write_, answer))
        db.session.commit()
    return outcomes


def _queue_product(sync: CatalogSync, plan: Plan, force: bool) -> list[Write]:
    rows = _rows(sync, plan.bindo_id)
    if not rows or plan.linked_by in ("sku", "upc"):
        # Never linked variant by variant (new link by product SKU/UPC, or the product had
        # no variants before): read its BigCommerce variants once. A link by variant SKU has
        # matched them already.
        rows = _adopt(sync, plan, rows)
    writes, new = _diff(plan, rows, force=force)
    if new:
        writes.extend(_creates(sync, plan, new, bool(rows)))
    return writes


def _adopt(sync: CatalogSync, plan: Plan, rows: dict[int, VariantBinding]) -> dict:
    """A bound product whose variants we have not linked yet (linked by its product SKU, or
    it had no variants before): read its BigCommerce variants once and link them by SKU/UPC."""
    assert plan.variants is not None and plan.bc_id is not None
    existing = sync.bc.find_variants(**{"product_id:in": str(plan.bc_id)})
    unbound = [v for v in plan.variants.mapped if v.bindo_variant_id not in rows]
    match = match_variants(unbound, existing, {plan.bc_id: plan.bindo_id}, plan.bindo_id)
    for variant in unbound:
        bc_variant = match.linked.get(variant.bindo_variant_id)
        if bc_variant is not None:
            rows[variant.bindo_variant_id] = _bind_row(
                sync, plan.bindo_id, variant, plan.bc_id, bc_variant, None
            )
    db.session.commit()
    return rows


def _creates(
    sync: CatalogSync, plan: Plan, new: list[MappedVariant], has_bound: bool
) -> list[Write]:
    """Create items for new Bindo variants: missing option values are created first (one
    request each); a product without any option gets its options (one request each)."""
    assert plan.bc_id is not None and plan.variants is not None
    options = sync.bc.list_product_options(plan.bc_id)
    to_create, unknown = missing_option_values(new, options)
    if unknown and (options or has_bound):
        first = next(v for v in new if any(o in unknown for o, _ in v.option_values))
        raise MappingError(
            "option_values",
            f"Variant {first.label}: option '{unknown[0]}' is new; BigCommerce cannot add an "
            "option to a product whose variants exist. Use the product's existing options, or "
            "create the product again in Bindo",
            code="variant_option_new",
            value=unknown[0],
            product_id=plan.bindo_id,
        )
    for name in unknown:  # a product without any option yet: create its options whole
        labels = list(
            dict.fromkeys(
                value
                for v in plan.variants.mapped
                if not v.removed
                for option, value in v.option_values
                if option == name
            )
        )
        sync.bc.create_option(plan.bc_id, name, labels)
    for option_id, label in to_create:
        # A 409: created by an earlier try whose answer was lost; the re-read below sees it.
        with contextlib.suppress(Conflict):
            sync.bc.create_option_value(plan.bc_id, option_id, label)
    if unknown or to_create:
        options = sync.bc.list_product_options(plan.bc_id)
    ids = option_value_ids(options)
    return [
        Write(
            plan.bindo_id,
            variant,
            None,
            variant_create_item(variant, plan.bc_id, ids),
            "variant_created",
        )
        for variant in new
    ]


def _after_write(sync: CatalogSync, write_: Write, answer: Any) -> Outcome:
    binding = _product_binding(sync, write_.bindo_id)
    if isinstance(answer, ApiError):
        if write_.action == "variant_created" and isinstance(answer, Conflict):
            adopted = _adopt_conflict(sync, write_, binding)
            if adopted is not None:
                return adopted
        return _fail(sync, write_.bindo_id, _variant_error(write_, answer), binding)
    saved = answer if isinstance(answer, Mapping) else {}
    row = write_.row
    if write_.variant is not None and binding is not None:
        bc_variant_id = int(saved.get("id") or write_.item.get("id") or 0) or None
        if bc_variant_id is None:
            return Outcome(write_.bindo_id, write_.action, write_.label, binding.bc_product_id)
        item = variant_update_item(write_.variant, bc_variant_id)
        row = _bind_row_plain(sync, write_, binding, bc_variant_id, variant_hash(item))
    elif row is not None:
        row.removed = True
        row.last_hash = variant_hash(write_.item)
        row.last_synced_at = utcnow()
    if binding is not None:
        binding.pushed_at = utcnow()  # the product's store/product/updated echo is ours
    bc_id = binding.bc_product_id if binding is not None else None
    return Outcome(write_.bindo_id, write_.action, write_.label, bc_id)


def _bind_row_plain(
    sync: CatalogSync,
    write_: Write,
    binding: ProductBinding,
    bc_variant_id: int,
    last_hash: str | None,
) -> VariantBinding:
    assert write_.variant is not None and binding.bc_product_id is not None
    return _bind_row(
        sync,
        write_.bindo_id,
        write_.variant,
        binding.bc_product_id,
        bc_variant_id,
        last_hash,
        write_.row,
    )


def _adopt_conflict(
    sync: CatalogSync, write_: Write, binding: ProductBinding | None
) -> Outcome | None:
    """409 on a create: the SKU exists. On this product (an earlier try whose answer was
    lost): link it and update it next time. Elsewhere: a clash (the caller records it)."""
    if write_.variant is None or binding is None or binding.bc_product_id is None:
        return None
    for bc in sync.bc.find_variants(sku=write_.variant.sku):
        if int(bc.get("product_id") or 0) == binding.bc_product_id:
            _bind_row_plain(sync, write_, binding, int(bc["id"]), None)
            return Outcome(write_.bindo_id, "variant_linked", write_.label, binding.bc_product_id)
    return None


def _product_binding(sync: CatalogSync, bindo_id: int) -> ProductBinding | None:
    return sync._binding(bindo_id)


def _variant_error(write_: Write, exc: ApiError) -> MappingError:
    detail = "; ".join(f"{k}: {v}" for k, v in (exc.errors or {}).items()) or exc.message
    return MappingError(
        "variant",
        f"Variant {write_.label}: BigCommerce refused it ({exc.status}): {detail}",
        code="bc_variant_refused",
        value=write_.item,
    )


def _fail(
    sync: CatalogSync,
    bindo_id: int,
    exc: Exception,
    binding: ProductBinding | None = None,
) -> Outcome:
    binding = binding or _product_binding(sync, bindo_id)
    if binding is None:
        return Outcome(bindo_id, "failed", str(exc))
    if isinstance(exc, MappingError):
        exc.product_id = bindo_id
    err = record_error(binding, exc)
    log.info("product %s: variant write failed: %s", bindo_id, err.code)
    return Outcome(bindo_id, "failed", err.message, binding.bc_product_id)


# --- dry run ---------------------------------------------------------------------------------


def dry_message(
    sync: CatalogSync, plan: Plan, found: Mapping[str, Mapping[str, Any]]
) -> tuple[str, dict[str, int]]:
    """('6 variants: 2 to link by SKU, 3 to create, 1 to update', counts) for the dry run."""
    if plan.variants is None:
        return "", {}
    live = [v for v in plan.variants.mapped if not v.removed]
    rows = _rows(sync, plan.bindo_id) if plan.bc_id is not None else {}
    link = [v for v in live if v.bindo_variant_id not in rows and v.sku.casefold() in found]
    create = [v for v in live if v.bindo_variant_id not in rows and v.sku.casefold() not in found]
    writes, _ = _diff(plan, rows) if rows else ([], [])
    update = [w for w in writes if w.action == "variant_updated"]
    removed = [w for w in writes if w.action == "variant_removed"]
    parts = [
        (len(link), "to link by SKU"),
        (len(create), "to create"),
        (len(update), "to update"),
        (len(removed), "to make unpurchasable"),
    ]
    said = ", ".join(f"{n} {what}" for n, what in parts if n)
    names = "; ".join(
        f"{w.label} ({w.action.removeprefix('variant_')})" for w in [*update, *removed][:5]
    )
    text = f"{len(live)} variants" + (f": {said}" if said else ": unchanged")
    counts = {
        "variants_to_link": len(link),
        "variants_to_create": len(create),
        "variants_to_update": len(update),
        "variants_to_remove": len(removed),
    }
    return (f"{text}. {names}" if names else text), counts


def dry_lookup(sync: CatalogSync, plans: Sequence[Plan]) -> dict[str, Mapping[str, Any]]:
    """Variant SKUs of new products that BigCommerce already has (reads only)."""
    skus = [
        v.sku
        for p in plans
        if p.variants is not None and p.step == "create"
        for v in p.variants.mapped
        if not v.removed
    ]
    if not skus:
        return {}
    return {str(v.get("sku") or "").casefold(): v for v in sync.bc.find_variants_by("sku", skus)}


__all__ = [
    "VARIANT_ACTIONS",
    "VariantPlan",
    "VariantState",
    "bind_created",
    "dry_lookup",
    "dry_message",
    "find_existing",
    "pending",
    "prepare",
    "product_part",
    "send",
    "variant_label",
    "write",
]


def dry_outcome(
    sync: CatalogSync, plan: Plan, outcome: Outcome, found: Mapping[str, Mapping[str, Any]]
) -> Outcome:
    """The dry-run line of a product with variants: linked by variant SKU when BigCommerce
    has one of them, and what would happen to its variants."""
    assert plan.variants is not None
    live = [v for v in plan.variants.mapped if not v.removed]
    if plan.step == "create" and any(v.sku.casefold() in found for v in live):
        hit = next(v for v in live if v.sku.casefold() in found)
        outcome = Outcome(plan.bindo_id, "linked", f"link by variant SKU {hit.sku}")
    detail, counts = dry_message(sync, plan, found)
    message = f"{outcome.message}; {detail}" if outcome.message else detail
    return Outcome(outcome.bindo_id, outcome.action, message, outcome.bc_id, counts)
