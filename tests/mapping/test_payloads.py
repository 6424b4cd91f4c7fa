"""Field ownership: what each payload carries on create and on update, and change detection."""

from __future__ import annotations

import pytest

from shared.mapping import (
    BINDO_OWNED_FIELDS,
    CONTENT_FIELDS,
    FIELD_POLICIES,
    NEVER_SENT_FIELDS,
    PAYLOAD_FIELDS,
    build_create_payload,
    build_hide_payload,
    build_update_payload,
    is_blank_description,
    map_product,
    payload_hash,
)
from tests.mapping.factories import bindo_product, settings

IMAGE_A = {"id": 1, "url": "http://127.0.0.1:5200/images/1.png", "position": 1}
IMAGE_B = {"id": 2, "url": "http://127.0.0.1:5200/images/2.png", "position": 2}


def mapped(content="bindo", **overrides):
    return map_product(bindo_product(**overrides), settings(content_managed_by=content))


def test_field_ownership_table_matches_the_brief():
    assert {
        "name",
        "type",
        "sku",
        "upc",
        "price",
        "weight",
        "categories",
        "inventory_tracking",
        "is_visible",
    } == BINDO_OWNED_FIELDS
    assert {"description", "images"} == CONTENT_FIELDS
    assert not PAYLOAD_FIELDS & NEVER_SENT_FIELDS
    assert len({p.field for p in FIELD_POLICIES}) == len(FIELD_POLICIES)


def test_create_payload_carries_every_owned_field_and_images_inline():
    payload = build_create_payload(mapped(images=[IMAGE_B, IMAGE_A], upc="012345678905"), [11, 3])
    assert payload == {
        "name": "Trail Runner",
        "type": "physical",
        "sku": "ABC-1",
        "upc": "012345678905",
        "price": 12.5,
        "weight": 1.0,
        "categories": [11, 3],
        "inventory_tracking": "product",
        "description": "<p>Light and fast.</p>",
        "images": [
            {"image_url": IMAGE_A["url"], "is_thumbnail": True, "sort_order": 0},
            {"image_url": IMAGE_B["url"], "is_thumbnail": False, "sort_order": 1},
        ],
        "is_visible": True,
    }


@pytest.mark.parametrize(
    ("kind", "sku", "upc", "has_sku", "has_upc"),
    [
        ("custom", "ABC-1", None, True, False),
        ("custom", None, None, False, False),
        ("custom", "", "012345678905", False, True),
        ("upc", None, "012345678905", False, True),
        ("upc", "ABC-1", "012345678905", True, True),
    ],
)
def test_null_sku_or_upc_is_left_out_never_sent_empty(kind, sku, upc, has_sku, has_upc):
    product = mapped(kind=kind, sku=sku, upc=upc)
    for payload in (
        build_create_payload(product, [1]),
        build_update_payload(product, [1], bc_id=5, visibility=None),
    ):
        assert ("sku" in payload, "upc" in payload) == (has_sku, has_upc)
        assert payload.get("sku") != ""


@pytest.mark.parametrize(
    ("content", "description", "visibility", "expected_extra"),
    [
        ("bindo", "<p>New</p>", None, {"description": "<p>New</p>"}),
        ("bindo", "", None, {}),
        ("bindo", "   ", None, {}),
        ("bindo", "<p>&nbsp;</p><br/>", None, {}),
        ("bindo", "<p><img src='x.png'></p>", None, {"description": "<p><img src='x.png'></p>"}),
        ("bigcommerce", "<p>New</p>", None, {}),
        ("bigcommerce", "", None, {}),
        ("bindo", "<p>New</p>", False, {"description": "<p>New</p>", "is_visible": False}),
        ("bigcommerce", "<p>New</p>", True, {"is_visible": True}),
    ],
)
def test_update_payload_follows_field_ownership(content, description, visibility, expected_extra):
    product = mapped(content=content, description=description, images=[IMAGE_A])
    payload = build_update_payload(product, [4], bc_id=77, visibility=visibility)
    assert payload == {
        "id": 77,
        "name": "Trail Runner",
        "type": "physical",
        "sku": "ABC-1",
        "price": 12.5,
        "weight": 1.0,
        "categories": [4],
        "inventory_tracking": "product",
        **expected_extra,
    }


@pytest.mark.parametrize("content", ["bindo", "bigcommerce"])
def test_create_payload_sends_content_whoever_manages_it(content):
    payload = build_create_payload(mapped(content=content, images=[IMAGE_A]), [1])
    assert {"description", "images"} <= payload.keys()


PRODUCT_VARIANTS = [
    {},
    {"kind": "upc", "upc": "012345678905", "sku": None},
    {"description": "", "images": []},
    {"custom_attributes": [{"name": "Weight", "value": "2 lb"}]},
    {"images": [IMAGE_A, IMAGE_B]},
]


@pytest.mark.parametrize("overrides", PRODUCT_VARIANTS)
@pytest.mark.parametrize("content", ["bindo", "bigcommerce"])
@pytest.mark.parametrize("visibility", [None, True, False])
def test_no_payload_contains_a_field_bindo_does_not_own(overrides, content, visibility):
    product = mapped(content=content, **overrides)
    payloads = [
        build_create_payload(product, [1]),
        build_update_payload(product, [1], bc_id=9, visibility=visibility),
        build_hide_payload(9),
    ]
    for payload in payloads:
        assert set(payload) <= PAYLOAD_FIELDS
        assert not set(payload) & NEVER_SENT_FIELDS


@pytest.mark.parametrize(
    "builder",
    [
        lambda m: build_create_payload(m, [1]),
        lambda m: build_update_payload(m, [1], bc_id=1, visibility=None),
    ],
)
def test_skipped_products_never_get_a_create_or_update_payload(builder):
    with pytest.raises(ValueError, match="in_store_only"):
        builder(mapped(in_store_only=True))


def test_payload_without_categories_is_refused():
    with pytest.raises(ValueError, match="category"):
        build_create_payload(mapped(), [])


def test_hide_payload_only_hides():
    assert build_hide_payload(42) == {"id": 42, "is_visible": False}


@pytest.mark.parametrize(
    ("text", "blank"),
    [
        ("", True),
        (" \n\t", True),
        ("<p></p>", True),
        ("<P>&nbsp;</P>", True),
        ("<div><br></div>", True),
        ("<p>Hi</p>", False),
        ("<img src='a.png'>", False),
        ("plain", False),
    ],
)
def test_blank_description_detection(text, blank):
    assert is_blank_description(text) is blank


def test_payload_hash_is_stable_across_key_order():
    product = mapped(images=[IMAGE_A])
    payload = build_create_payload(product, [1])
    reordered = dict(reversed(list(payload.items())))
    assert payload_hash(payload, product.images) == payload_hash(reordered, product.images)
    assert len(payload_hash(payload, product.images)) == 64


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Trail Runner II"},
        {"price": "12.51"},
        {"images": [IMAGE_A, IMAGE_B]},
        {"images": [{**IMAGE_A, "url": "http://127.0.0.1:5200/images/1b.png"}]},
        {"custom_attributes": [{"name": "Weight", "value": "2 kg"}]},
        {"description": "<p>Other</p>"},
    ],
)
def test_payload_hash_changes_when_the_product_changes(changes):
    before = mapped(images=[IMAGE_A])
    after = mapped(**{"images": [IMAGE_A], **changes})
    assert payload_hash(build_create_payload(before, [1]), before.images) != payload_hash(
        build_create_payload(after, [1]), after.images
    )


def test_payload_hash_ignores_bindo_timestamps():
    before = mapped(updated_at="2026-11-26T21:00:00Z")
    after = mapped(updated_at="2026-11-27T08:00:00Z")
    assert payload_hash(build_create_payload(before, [1]), before.images) == payload_hash(
        build_create_payload(after, [1]), after.images
    )
