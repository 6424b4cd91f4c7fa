"""Stock rule: one floored, buffered, clamped level; tracking follows the merchant setting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.mapping import MappingError, inventory_tracking, map_product, stock_level
from tests.mapping.factories import bindo_product, settings


@pytest.mark.parametrize(
    ("quantities", "buffer", "level"),
    [
        (["5", "3"], 0, 8),
        (["2.9"], 0, 2),
        (["-0.5"], 0, 0),
        (["-4", "10"], 0, 6),
        (["1.5", "1.5"], 0, 3),  # summed before flooring
        ([Decimal("2.5"), 1, 0.5, None], 0, 4),
        ([2.9], 0, 2),
        ([" 7 "], 0, 7),
        (["10"], 3, 7),
        (["2"], 5, 0),
        ([], 0, 0),
        ([None], 0, 0),
        (["3000000000"], 0, 2_147_483_647),
        (["1e3"], 0, 1000),
    ],
)
def test_stock_level_sums_floors_buffers_and_clamps(quantities, buffer, level):
    assert stock_level(quantities, buffer) == level


@pytest.mark.parametrize("bad", ["lots", "", "NaN", "inf", True, [1]])
def test_unparsable_stock_quantity_is_an_error(bad):
    with pytest.raises(MappingError) as caught:
        stock_level(["1", bad])
    assert (caught.value.field, caught.value.code) == ("stock", "stock_unparsable")


def test_negative_safety_buffer_is_a_programming_error():
    with pytest.raises(ValueError, match="safety_buffer"):
        stock_level(["1"], -1)


@pytest.mark.parametrize(("allow", "tracking"), [(False, "product"), (True, "none")])
def test_inventory_tracking_follows_out_of_stock_setting(allow, tracking):
    assert inventory_tracking(allow) == tracking
    mapped = map_product(bindo_product(), settings(allow_orders_when_out_of_stock=allow))
    assert mapped.inventory_tracking == tracking
