"""Order lines for variants (docs/stock-and-orders.md, Variants): the BigCommerce line's
``variant_id`` (or SKU) names the Bindo variant, so the Bindo order lowers that variant's
stock, and a cancel or a restocking refund in Bindo puts it back on the same variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Merchant, VariantBinding
from shared.mapping.orders import MappedOrder
from shared.mapping.variants import VariantRef, apply_variant_lines


def with_variants(
    merchant: Merchant, mapped: MappedOrder, lines: Sequence[Mapping[str, Any]]
) -> MappedOrder:
    """``mapped`` with its variant lines placed on Bindo variants (one query or two)."""
    variant_ids = sorted({int(line["variant_id"]) for line in lines if line.get("variant_id")})
    skus = sorted({str(line["sku"]).strip().casefold() for line in lines if line.get("sku")})
    product_ids = {
        item["product_id"]
        for item in mapped.body.get("line_items") or ()
        if item.get("product_id") is not None
    }
    base = select(VariantBinding).where(VariantBinding.merchant_id == merchant.id)
    by_variant: dict[int, VariantRef] = {}
    by_sku: dict[str, VariantRef] = {}
    if variant_ids:
        for row in db.session.scalars(base.where(VariantBinding.bc_variant_id.in_(variant_ids))):
            by_variant[int(row.bc_variant_id)] = (row.bindo_product_id, row.bindo_variant_id)
    if skus:
        for row in db.session.scalars(base.where(func.lower(VariantBinding.sku).in_(skus))):
            ref = (row.bindo_product_id, row.bindo_variant_id)
            by_sku.setdefault(row.sku.strip().casefold(), ref)
    variant_products: set[int] = set()
    if product_ids:
        stmt = select(VariantBinding.bindo_product_id).where(
            VariantBinding.merchant_id == merchant.id,
            VariantBinding.bindo_product_id.in_(sorted(product_ids)),
        )
        variant_products = {int(i) for i in db.session.scalars(stmt)}
    if not (by_variant or by_sku or variant_products):
        return mapped  # an order without variants: exactly as before
    return apply_variant_lines(
        mapped, lines, by_variant=by_variant, by_sku=by_sku, variant_products=variant_products
    )
