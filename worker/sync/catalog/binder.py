"""Binding operations used by the jobs: link a Bindo product to an existing BigCommerce
product (staff link), and forget payload hashes so a settings change re-sends everything.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    ProductBinding,
    SyncState,
)
from worker.clients.errors import (
    NotFound,
)
from worker.context import bc_client, load_merchant
from worker.sync.catalog.engine import CatalogSync
from worker.sync.catalog.report import Outcome


def invalidate_hashes(merchant_id: int) -> int:
    """Forget every stored payload hash of a merchant, so each product is sent once again.

    Called when content_managed_by or allow_out_of_stock_orders changes: the same Bindo data
    now maps to different payloads. Returns the number of bindings touched.
    """
    bindings = db.session.scalars(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant_id,
            ProductBinding.last_payload_hash.is_not(None),
        )
    ).all()
    for binding in bindings:
        binding.last_payload_hash = None
    db.session.commit()
    return len(bindings)


class LinkError(ValueError):
    """A staff link that cannot be made; the message says why in plain words."""


def link_binding(merchant_id: int, bindo_product_id: int, bc_product_id: int) -> Outcome:
    """Link a Bindo product to an existing BigCommerce product (e.g. after a name clash),
    then push Bindo's data onto it. Raises LinkError when the link is impossible."""
    merchant = load_merchant(merchant_id)
    bc = bc_client(merchant)
    try:
        bc.get_product(int(bc_product_id), include=None)
    except NotFound:
        raise LinkError(f"BigCommerce product {bc_product_id} does not exist") from None
    other = db.session.scalar(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id,
            ProductBinding.bc_product_id == int(bc_product_id),
            ProductBinding.bindo_product_id != int(bindo_product_id),
        )
    )
    if other is not None:
        raise LinkError(
            f"BigCommerce product {bc_product_id} is already linked to Bindo product "
            f"{other.bindo_product_id}"
        )
    binding = db.session.scalar(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id,
            ProductBinding.bindo_product_id == int(bindo_product_id),
        )
    )
    if binding is None:
        binding = ProductBinding(
            merchant_id=merchant.id, bindo_product_id=int(bindo_product_id), image_map={}
        )
        db.session.add(binding)
    if binding.bc_product_id != int(bc_product_id):
        binding.bc_product_id = int(bc_product_id)
        binding.image_map = {}
        binding.last_pushed = None
        binding.last_online = None
    binding.last_payload_hash = None
    binding.sync_state = SyncState.PENDING.value
    db.session.commit()
    engine = CatalogSync(merchant, bc=bc)
    report = engine.sync_ids([int(bindo_product_id)], force=[int(bindo_product_id)])
    if report.retryable is not None:
        raise report.retryable
    outcome = next(iter(report.outcomes), None)
    if outcome is None:
        return Outcome(int(bindo_product_id), "failed", "the product is not in Bindo")
    if outcome.action == "updated":
        outcome.action = "linked"
    return outcome
