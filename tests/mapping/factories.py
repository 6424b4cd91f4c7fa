"""Builders for Bindo records used across the mapping tests."""

from __future__ import annotations

from typing import Any

from shared.mapping import MappingSettings


def bindo_product(**overrides: Any) -> dict[str, Any]:
    """A valid online custom product; keyword arguments replace fields."""
    product: dict[str, Any] = {
        "id": 101,
        "name": "Trail Runner",
        "description": "<p>Light and fast.</p>",
        "price": "12.50",
        "sku": "ABC-1",
        "upc": None,
        "kind": "custom",
        "category": "Shoes > Running",
        "custom_attributes": [],
        "images": [{"id": 9001, "url": "http://127.0.0.1:5200/images/9001.png", "position": 1}],
        "in_store_only": False,
        "deleted": False,
        "updated_at": "2026-11-26T21:00:00Z",
    }
    product.update(overrides)
    return product


def settings(**overrides: Any) -> MappingSettings:
    values: dict[str, Any] = {"store_weight_unit": "KGS", "default_category_id": 1}
    values.update(overrides)
    return MappingSettings(**values)
