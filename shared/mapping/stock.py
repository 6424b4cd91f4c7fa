"""Stock rule: Bindo per-location quantities -> one BigCommerce level, and how it is tracked."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Literal

from .errors import MappingError, preview

MAX_STOCK = 2_147_483_647  # BigCommerce per item per location (CONTRACT section 7.1)

InventoryTracking = Literal["product", "none"]


def _quantity(value: str | Decimal | int | float | None) -> Decimal:
    if value is None:
        return Decimal(0)  # a location without a stock record holds nothing
    if isinstance(value, bool):
        raise _unparsable(value)
    if isinstance(value, float):
        value = repr(value)  # Decimal(2.9) would be 2.8999...; the API meant 2.9
    try:
        quantity = (
            value
            if isinstance(value, Decimal)
            else Decimal(value.strip() if isinstance(value, str) else value)
        )
    except (InvalidOperation, TypeError, ValueError):
        raise _unparsable(value) from None
    if not quantity.is_finite():
        raise _unparsable(value)
    return quantity


def _unparsable(value: object) -> MappingError:
    return MappingError(
        "stock",
        f"Stock quantity '{preview(value)}' is not a number",
        code="stock_unparsable",
        value=value,
    )


def stock_level(
    quantities: Iterable[str | Decimal | int | float | None], safety_buffer: int = 0
) -> int:
    """Sum of the location quantities, floored, less the buffer, clamped to BigCommerce's range.

    Floor, not round: selling 2.9 kg of something as 3 units would oversell. Negative sums
    (Bindo allows selling below zero) become 0.
    """
    if safety_buffer < 0:
        raise ValueError(f"safety_buffer must be >= 0, not {safety_buffer}")
    total = sum((_quantity(q) for q in quantities), Decimal(0))
    level = math.floor(total) - safety_buffer
    return min(max(level, 0), MAX_STOCK)


def inventory_tracking(allow_orders_when_out_of_stock: bool) -> InventoryTracking:
    """ "product" so BigCommerce stops selling at 0; "none" when the merchant sells regardless.

    BigCommerce has no REST back-order contract (CONTRACT 7.1), so "keep selling when out of
    stock" can only be had by not tracking stock at all.
    """
    return "none" if allow_orders_when_out_of_stock else "product"
