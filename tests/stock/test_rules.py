"""Where stock goes and what level it becomes: pure rules over a transient Merchant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.models import Merchant
from worker.sync.stock import desired_levels, targets


def merchant(**fields) -> Merchant:
    base = {"store_hash": "s", "bindo_location_ids": [10], "location_mode": "sum"}
    base.update(fields)
    m = Merchant(**base)
    if m.bc_location_id is None:
        m.bc_location_id = 1
    return m


@pytest.mark.parametrize(
    ("quantity", "level"),
    [
        (Decimal("5"), 5),
        (Decimal("-3"), 0),
        (Decimal("2.9"), 2),
        (Decimal("0.4"), 0),
        (None, 0),
    ],
)
def test_negative_and_fractional_quantities_become_whole_non_negative_levels(quantity, level):
    stock = {10: {} if quantity is None else {7: quantity}}
    assert desired_levels(7, stock, targets(merchant()), 0) == {"1": level}


def test_sum_mode_sums_linked_locations_into_bc_location():
    m = merchant(bindo_location_ids=[10, 11], bc_location_id=3)
    stock = {10: {7: Decimal("2.5")}, 11: {7: Decimal("1.5")}}
    assert targets(m) == [(3, (10, 11))]
    assert desired_levels(7, stock, targets(m), 0) == {"3": 4}


def test_map_mode_sends_each_location_to_its_mapped_bc_location():
    m = merchant(
        bindo_location_ids=[10, 11, 12], location_mode="map", location_map={"10": 1, "11": 2}
    )
    stock = {10: {7: Decimal(4)}, 11: {7: Decimal(-1)}, 12: {7: Decimal(9)}}
    assert targets(m) == [(1, (10,)), (2, (11,))]  # 12 is not mapped: not published
    assert desired_levels(7, stock, targets(m), 0) == {"1": 4, "2": 0}


def test_safety_buffer_is_held_back_and_never_goes_below_zero():
    stock = {10: {7: Decimal(5)}, 11: {8: Decimal(1)}}
    assert desired_levels(7, stock, targets(merchant()), 2) == {"1": 3}
    assert desired_levels(8, stock, targets(merchant(bindo_location_ids=[11])), 2) == {"1": 0}
