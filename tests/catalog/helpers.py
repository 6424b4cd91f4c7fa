"""Helpers for the catalog sync tests: products in the Bindo simulator, request counts in the
BigCommerce simulator, and in-process job calls."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import ProductBinding

WRITE_METHODS = ("POST", "PUT", "DELETE")
_names = itertools.count(1)


def weight(value: str) -> list[dict[str, str]]:
    return [{"name": "Weight", "value": value}]


def new_product(stack, merchant, **fields: Any) -> dict[str, Any]:
    """A Bindo product with sane defaults: priced, weighed, categorised, one image."""
    fields.setdefault("image_count", 1)
    fields.setdefault("price", "10.00")
    fields.setdefault("custom_attributes", weight("1 lb"))
    fields.setdefault("category", "Shoes")
    # BigCommerce product names are unique: give each its own.
    fields.setdefault("name", f"Product {next(_names)}")
    return stack.bindo.create_product(merchant.bindo_store_id, **fields)


def endpoints(stack, store_hash: str) -> dict[str, int]:
    return stack.bc.request_summary(store_hash)["by_endpoint"]


def writes(stack, store_hash: str) -> dict[str, int]:
    """Write requests (POST/PUT/DELETE) by endpoint."""
    return {k: v for k, v in endpoints(stack, store_hash).items() if k.startswith(WRITE_METHODS)}


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def binding(merchant_id: int, bindo_id: int) -> ProductBinding | None:
    db.session.expire_all()
    return db.session.scalar(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant_id,
            ProductBinding.bindo_product_id == bindo_id,
        )
    )


def bc_product(stack, store_hash: str, bc_id: int) -> dict[str, Any]:
    return stack.bc.stores[store_hash].products[bc_id]


def bc_images(stack, store_hash: str, bc_id: int) -> list[dict[str, Any]]:
    images = stack.bc.stores[store_hash].images.get(bc_id, [])
    return sorted(images, key=lambda i: (i["sort_order"], i["id"]))


def push(merchant_id: int, ids: list[int]) -> dict[str, int]:
    from worker.jobs.catalog import push_products

    return push_products(merchant_id, ids)


def make_category(merchant, name: str, parent_id: int = 0) -> int:
    """Create a category in BigCommerce the way a merchant would (not through the sync)."""
    from worker.context import bc_client

    result = bc_client(merchant).create_categories(
        [{"name": name, "parent_id": parent_id, "tree_id": 1}]
    )
    return int(result.results[0]["category_id"])


def make_bc_product(merchant, **fields: Any) -> int:
    """A product created in BigCommerce by the merchant (not linked to Bindo)."""
    from worker.context import bc_client

    body = {"type": "physical", "price": 1, "weight": 1, **fields}
    return int(bc_client(merchant).create_product(body)["id"])
