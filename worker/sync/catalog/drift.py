"""Drift: BigCommerce's values of Bindo-owned fields compared with what we last pushed
(reconciles and store/product/updated checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Merchant,
    ProductBinding,
)
from shared.mapping import (
    BINDO_OWNED_FIELDS,
)
from worker.clients.bigcommerce import BigCommerceClient
from worker.sync.catalog.engine import CHUNK, chunks

# Fields compared by drift checks: Bindo owns them and re-sends them on every update.
# is_visible is left out on purpose: a merchant may hide a product by hand and it stays hidden.
DRIFT_FIELDS: tuple[str, ...] = tuple(sorted(BINDO_OWNED_FIELDS - {"is_visible"}))


def _norm(name: str, value: Any) -> Any:
    """Comparable form: numbers rounded like the mapping rounds them, category lists sorted."""
    if name == "categories" and isinstance(value, list):
        return sorted(int(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 4)
    if isinstance(value, str) and name in ("price", "weight"):
        try:
            return round(float(value), 4)
        except ValueError:
            return value
    return value


def drifted_fields(current: Mapping[str, Any], pushed: Mapping[str, Any]) -> list[str]:
    """Bindo-owned fields whose BigCommerce value differs from the one we last sent."""
    return [
        name
        for name in DRIFT_FIELDS
        if name in pushed
        and name in current
        and _norm(name, current[name]) != _norm(name, pushed[name])
    ]


def find_drift(
    merchant: Merchant, bc: BigCommerceClient, bc_ids: Iterable[int] | None = None
) -> list[ProductBinding]:
    """Bound, visible-by-us products whose Bindo-owned fields were changed in BigCommerce.

    Reads 1 request per 50 products (``id:in`` + ``include_fields``).
    """
    stmt = select(ProductBinding).where(
        ProductBinding.merchant_id == merchant.id,
        ProductBinding.bc_product_id.is_not(None),
    )
    if bc_ids is not None:
        stmt = stmt.where(ProductBinding.bc_product_id.in_([int(i) for i in bc_ids]))
    bindings = {
        int(b.bc_product_id): b
        for b in db.session.scalars(stmt)
        # An offline product only ever gets is_visible from us: nothing of ours to restore.
        # (Filtered here: a JSON column may hold JSON null rather than SQL NULL.)
        if b.last_pushed and b.last_online
    }
    drifted: list[ProductBinding] = []
    fields = ",".join(DRIFT_FIELDS)
    for chunk in chunks(sorted(bindings), CHUNK):
        ids = ",".join(str(i) for i in chunk)
        for product in bc.iter_products(**{"id:in": ids, "include_fields": fields}):
            binding = bindings.get(int(product["id"]))
            if binding is not None and drifted_fields(product, binding.last_pushed or {}):
                drifted.append(binding)
    return drifted
