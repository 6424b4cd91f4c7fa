"""The write side of CatalogSync: link or create new products, send batched updates and hides,
and stamp the binding after each outcome. A mixin of the engine, which plans and decides
what is written (engine.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import ProductBinding, SyncState, utcnow
from shared.mapping import MappingError, build_hide_payload, build_update_payload, decide_visibility
from worker.clients.errors import ApiError, Conflict, NotFound, RetryableError, Unauthorized
from worker.sync.catalog import variants as variant_sync
from worker.sync.catalog.errors import NameClash, clear_error, record_error
from worker.sync.catalog.report import Outcome
from worker.sync.images import (
    IMAGES_KEY,
    images_changed,
    images_signature,
    inline_image_map,
    sync_images,
)

if TYPE_CHECKING:
    from portal.models import Merchant
    from worker.clients.bigcommerce import BigCommerceClient
    from worker.sync.catalog.engine import Plan
    from worker.sync.categories import CategoryResolver

log = logging.getLogger(__name__)


class ProductWriter:
    """Creates, links, batched updates and binding stamps; CatalogSync sets these attributes."""

    merchant: Merchant
    merchant_id: int
    bc: BigCommerceClient
    categories: CategoryResolver
    _store_empty: bool | None

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
        binding.bc_product_id = bc_id = int(row["id"])
        binding.channels_pending = bool(self.channels())  # committed with the binding
        variant_sync.bind_created(self, plan, row)
        images = plan.mapped.images
        self._bind_success(
            plan,
            sent=variant_sync.product_part(plan.payload),
            online=True,
            image_map=inline_image_map(images),
            images_sig=images_signature(images),
        )
        db.session.commit()  # (it expires the binding: its id is not read back)
        return Outcome(plan.bindo_id, "created", bc_id=bc_id)

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

    # -- bindings: stamped after each outcome -----------------------------------------------

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

    def _ensure_binding(self, plan: Plan) -> ProductBinding:
        if plan.binding is None:
            plan.binding = ProductBinding(
                merchant_id=self.merchant_id,
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
