"""Online rule: who is online, and when is_visible is sent."""

from __future__ import annotations

import pytest

from shared.mapping import decide_visibility, is_online, map_product
from tests.mapping.factories import bindo_product, settings


@pytest.mark.parametrize(
    ("in_store_only", "deleted", "online"),
    [
        (False, False, True),
        (True, False, False),
        (False, True, False),
        (True, True, False),
        (None, None, True),
    ],
)
def test_online_iff_not_in_store_only_and_not_deleted(in_store_only, deleted, online):
    assert is_online(bindo_product(in_store_only=in_store_only, deleted=deleted)) is online


@pytest.mark.parametrize(
    ("online_now", "last_pushed", "send"),
    [
        (True, None, True),  # create
        (False, None, False),  # bound, last flag unknown: hide rather than leave showing
        (False, True, False),  # deleted / in-store-only: hide
        (True, False, True),  # back online: show again
        (True, True, None),  # unchanged: a merchant's manual hide stays
        (False, False, None),  # still offline: nothing to say
    ],
)
def test_visibility_is_sent_only_when_bindo_flag_changes(online_now, last_pushed, send):
    assert decide_visibility(online_now, last_pushed) is send


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"in_store_only": True}, "in_store_only"),
        ({"deleted": True}, "deleted"),
        ({"deleted": True, "in_store_only": True}, "deleted"),
    ],
)
def test_offline_products_are_skipped_not_created(overrides, reason):
    mapped = map_product(bindo_product(**overrides), settings())
    assert (mapped.action, mapped.skip_reason, mapped.online) == ("skip", reason, False)


def test_in_store_only_product_with_junk_fields_is_skipped_without_errors():
    junk = bindo_product(
        in_store_only=True,
        name="",
        price="free",
        custom_attributes=[{"name": "Weight", "value": "heavy"}],
    )
    assert map_product(junk, settings()).action == "skip"
