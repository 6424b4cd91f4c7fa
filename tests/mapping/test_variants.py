"""Variant rules (shared/mapping/variants.py), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from shared.mapping import MappingError, map_product
from shared.mapping.variants import (
    MAX_VARIANTS,
    build_variant_create_payload,
    has_variants,
    map_variants,
    match_variants,
    missing_option_values,
    removed_variant_item,
    variant_create_item,
    variant_hash,
    variant_stock_levels,
    variant_tracking,
    variant_update_item,
)
from tests.mapping.factories import bindo_product, settings

OPTIONS = [{"name": "Size", "values": ["S", "M", "L"]}, {"name": "Colour", "values": ["Red"]}]


def variant(vid: int, size: str, colour: str = "Red", **fields: Any) -> dict[str, Any]:
    return {
        "id": vid,
        "option_values": [{"option": "Colour", "value": colour}, {"option": "Size", "value": size}],
        "sku": f"TEE-{size}-{colour}",
        "upc": None,
        "price": None,
        "custom_attributes": [],
        "deleted": False,
        **fields,
    }


def tee(*variants: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    attrs = [{"name": "Weight", "value": "200 g"}]
    return bindo_product(
        name="Tee", price="20.00", custom_attributes=attrs, options=OPTIONS,
        variants=list(variants) or [variant(1, "S"), variant(2, "M")], **overrides,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # (variant fields, (price, weight in KGS)): null price/weight inherit the product's
        ({}, (None, None)),
        ({"price": "22"}, (22.0, None)),
        ({"price": "0"}, (0.0, None)),
        ({"custom_attributes": [{"name": "Weight", "value": "250 g"}]}, (None, 0.25)),
        ({"custom_attributes": [{"name": " weight ", "value": "2 lb"}]}, (None, 0.9072)),
        ({"custom_attributes": [{"name": "Weight", "value": " "}]}, (None, None)),  # blank
        ({"custom_attributes": [{"name": "Colour code", "value": "x"}]}, (None, None)),
    ],
)
def test_price_and_weight_per_variant(fields, expected):
    (mapped,) = map_variants(tee(variant(1, "S", **fields)), "kg")
    assert (mapped.price, mapped.weight) == expected


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"price": "abc"}, "price_unparsable", "price"),
        ({"price": "-1"}, "price_negative", "price"),
        (
            {"custom_attributes": [{"name": "Weight", "value": "2 stone"}]},
            "weight_unparsable",
            "weight",
        ),
        (
            {"custom_attributes": [{"name": "Weight", "value": "-1 kg"}]},
            "weight_negative",
            "weight",
        ),
        ({"sku": None}, "variant_sku_missing", "sku"),
        ({"sku": "  "}, "variant_sku_missing", "sku"),
        ({"sku": "x" * 256}, "sku_too_long", "sku"),
        ({"upc": "12AB"}, "upc_invalid", "upc"),
        ({"option_values": []}, "variant_options_missing", "option_values"),
    ],
)
def test_bad_variant_fields_are_errors_that_name_the_variant(fields, code, field):
    with pytest.raises(MappingError) as caught:
        map_variants(tee(variant(7, "M", **fields)), "kg")
    error = caught.value
    assert (error.code, error.field, error.product_id) == (code, field, 101)
    assert error.message.startswith("Variant ")
    if code not in ("variant_options_missing",):
        assert "Size: M, Colour: Red" in error.message
    assert "Bindo product 101: Variant" in error.plain


def test_option_values_follow_the_product_option_order_and_label_names_sku():
    (mapped,) = map_variants(tee(variant(1, "L")), "kg")
    assert mapped.option_values == (("Size", "L"), ("Colour", "Red"))
    assert mapped.label == "Size: L, Colour: Red (SKU TEE-L-Red)"


@pytest.mark.parametrize(
    ("variants", "code"),
    [
        ([variant(1, "S"), variant(2, "M", sku="tee-s-red")], "variant_sku_duplicate"),
        ([variant(1, "S"), variant(2, "S", sku="OTHER")], "variant_options_duplicate"),
    ],
)
def test_product_wide_variant_checks(variants, code):
    with pytest.raises(MappingError) as caught:
        map_variants(tee(*variants), "kg")
    assert caught.value.code == code and caught.value.product_id == 101


def test_removed_variants_do_not_clash_and_the_600_limit_counts_live_ones():
    removed = variant(2, "S", deleted=True)
    assert [v.removed for v in map_variants(tee(variant(1, "S"), removed), "kg")] == [False, True]
    many = [variant(i, str(i), sku=f"V{i}") for i in range(MAX_VARIANTS + 1)]
    with pytest.raises(MappingError) as caught:
        map_variants(tee(*many), "kg")
    assert caught.value.code == "too_many_variants"
    many[0]["deleted"] = True
    assert len(map_variants(tee(*many), "kg")) == MAX_VARIANTS + 1


def test_products_without_variants_are_not_variant_products():
    assert not has_variants(bindo_product())
    assert not has_variants(bindo_product(variants=[]))
    assert has_variants(tee())


@pytest.mark.parametrize(("allow", "mode"), [(False, "variant"), (True, "none")])
def test_tracking_follows_the_out_of_stock_setting(allow, mode):
    assert variant_tracking(allow) == mode


def test_create_payload_carries_the_product_rules_and_live_variants_inline():
    product = tee(variant(1, "S"), variant(2, "M", price="22", upc="012345678905"),
                  variant(3, "L", deleted=True))  # fmt: skip
    mapped = map_product(product, settings())
    variants = map_variants(product, "kg")
    payload = build_variant_create_payload(mapped, variants, [5], "variant")
    assert payload["name"] == "Tee" and payload["categories"] == [5]
    assert payload["weight"] == 0.2 and payload["is_visible"] is True
    assert payload["inventory_tracking"] == "variant"
    assert payload["variants"] == [
        {
            "sku": "TEE-S-Red",
            "purchasing_disabled": False,
            "option_values": [
                {"option_display_name": "Size", "label": "S"},
                {"option_display_name": "Colour", "label": "Red"},
            ],
        },
        {
            "sku": "TEE-M-Red",
            "price": 22.0,
            "purchasing_disabled": False,
            "upc": "012345678905",
            "option_values": [
                {"option_display_name": "Size", "label": "M"},
                {"option_display_name": "Colour", "label": "Red"},
            ],
        },
    ]


def test_in_store_only_products_are_never_created_with_variants():
    mapped = map_product(tee(in_store_only=True), settings())
    with pytest.raises(ValueError):
        build_variant_create_payload(mapped, map_variants(tee(), "kg"), [5], "variant")


def test_update_items_send_every_owned_field_and_reset_inherited_values():
    small, medium = map_variants(tee(variant(1, "S"), variant(2, "M", price="22")), "kg")
    assert variant_update_item(small, 900) == {
        "id": 900, "sku": "TEE-S-Red", "price": None, "weight": None, "purchasing_disabled": False,
    }  # fmt: skip
    assert variant_update_item(medium, 901)["price"] == 22.0
    (gone,) = map_variants(tee(variant(3, "L", deleted=True)), "kg")
    assert variant_update_item(gone, 902) == removed_variant_item(902)
    assert removed_variant_item(902)["purchasing_disabled"] is True


def test_variant_hash_ignores_ids_and_sees_every_owned_change():
    small, medium = map_variants(tee(variant(1, "S"), variant(2, "M")), "kg")
    base = variant_hash(variant_update_item(small, 1))
    assert base == variant_hash(variant_update_item(small, 2))
    (repriced,) = map_variants(tee(variant(1, "S", price="19")), "kg")
    assert variant_hash(variant_update_item(repriced, 1)) != base


def test_new_variants_on_a_linked_product_use_option_value_ids():
    bc_options = [
        {"id": 40, "display_name": "Size", "option_values": [{"id": 41, "label": "S"}]},
        {"id": 50, "display_name": "colour", "option_values": [{"id": 51, "label": "red"}]},
    ]
    (large,) = map_variants(tee(variant(3, "L")), "kg")
    to_create, unknown = missing_option_values([large], bc_options)
    assert (to_create, unknown) == ([(40, "L")], [])
    bc_options[0]["option_values"].append({"id": 42, "label": "L"})
    from shared.mapping.variants import option_value_ids

    item = variant_create_item(large, 77, option_value_ids(bc_options))
    assert item["product_id"] == 77 and item["sku"] == "TEE-L-Red"
    assert item["option_values"] == [{"id": 42, "option_id": 40}, {"id": 51, "option_id": 50}]
    _, unknown = missing_option_values([large], bc_options[:1])
    assert unknown == ["Colour"]


def test_stock_levels_per_variant_use_linked_locations_buffer_and_floor():
    rows = [
        {"product_id": 101, "variant_id": 1, "location_id": 10, "quantity": "3.9"},
        {"product_id": 101, "variant_id": 1, "location_id": 11, "quantity": "2.0"},
        {"product_id": 101, "variant_id": 1, "location_id": 12, "quantity": "50"},  # not linked
        {"product_id": 101, "variant_id": 2, "location_id": 10, "quantity": "-4"},
        {"product_id": 101, "location_id": 10, "quantity": "9"},  # a product row: not a variant
    ]
    assert variant_stock_levels(rows, [10, 11], 0) == {1: 5, 2: 0}
    assert variant_stock_levels(rows, [10, 11], 2) == {1: 3, 2: 0}
    assert variant_stock_levels(rows, [10], 5) == {1: 0, 2: 0}


BC = [
    {"id": 900, "product_id": 70, "sku": "tee-s-red", "upc": ""},
    {"id": 901, "product_id": 70, "sku": "OLD-M", "upc": "012345678905"},
    {"id": 990, "product_id": 80, "sku": "TEE-L-Red", "upc": ""},
]


def test_matching_links_variant_by_variant_by_sku_then_upc():
    variants = map_variants(
        tee(variant(1, "S"), variant(2, "M", upc="012345678905"), variant(4, "XL", sku="NEW")),
        "kg",
    )
    match = match_variants(variants, BC, {}, product_id=101)
    assert match.bc_product_id == 70
    assert match.linked == {1: 900, 2: 901}
    assert [v.bindo_variant_id for v in match.new] == [4]


@pytest.mark.parametrize(
    ("variants", "bound", "names"),
    [
        ([variant(1, "S"), variant(3, "L")], {}, "Size: L, Colour: Red (SKU TEE-L-Red)"),
        ([variant(1, "S")], {70: 555}, "Size: S, Colour: Red (SKU TEE-S-Red)"),
    ],
)
def test_matching_clashes_name_the_variant(variants, bound, names):
    with pytest.raises(MappingError) as caught:
        match_variants(map_variants(tee(*variants), "kg"), BC, bound, product_id=101)
    assert caught.value.code == "variant_clash" and names in caught.value.message
    assert caught.value.product_id == 101


def test_nothing_matches_means_create():
    match = match_variants(map_variants(tee(), "kg"), [], {}, product_id=101)
    assert match.bc_product_id is None and len(match.new) == 2


def _order(*lines):
    from shared.mapping import map_order

    return map_order(
        {"id": 1},
        list(lines),
        [],
        store_hash="s",
        location_id=10,
        product_bindings={70: 101, 80: 102},
        customer_id=None,
    )


def _line(line_id: int, product_id: int, variant_id: int | None, sku: str, **extra):
    return {
        "id": line_id, "product_id": product_id, "variant_id": variant_id, "sku": sku,
        "name": "Tee", "price_inc_tax": "20.0000", "quantity": 1, **extra,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # (BigCommerce line, (Bindo product id, Bindo variant id) or None for a custom line)
        (_line(1, 70, 900, "TEE-S"), (101, 1)),  # by variant id
        (_line(1, 70, 999, "tee-m"), (101, 2)),  # unknown variant id: by SKU, case-blind
        (_line(1, 70, 999, "OTHER"), None),  # product has variants, variant unknown
        (_line(1, 80, 555, "MUG"), (102, None)),  # a product without variants: as before
    ],
)
def test_order_lines_go_on_the_right_variant(line, expected):
    from shared.mapping.variants import apply_variant_lines

    mapped = apply_variant_lines(
        _order(line),
        [line],
        by_variant={900: (101, 1)},
        by_sku={"tee-m": (101, 2)},
        variant_products={101},
    )
    (item,) = mapped.body["line_items"]
    if expected is None:
        assert item["product_id"] is None and len(mapped.unknown_lines) == 1
    else:
        assert (item["product_id"], item.get("variant_id")) == expected
        assert not mapped.unknown_lines


def test_order_line_names_carry_the_chosen_options():
    from shared.mapping.variants import apply_variant_lines

    options = [
        {"display_name": "Size", "display_value": "M"},
        {"display_name": "Colour", "display_value": "Red"},
    ]
    line = _line(1, 70, 900, "TEE-M", product_options=options)
    mapped = apply_variant_lines(
        _order(line), [line], by_variant={900: (101, 2)}, by_sku={}, variant_products={101}
    )
    assert mapped.body["line_items"][0]["name"] == "Tee (Size: M, Colour: Red)"


@pytest.mark.parametrize(
    "junk",
    [
        ["not a variant"],
        [{"id": "a", "option_values": []}],
        [{"id": 5, "option_values": "junk", "sku": "X"}],
        [{"id": 5, "option_values": [None, 3, {"option": None}], "sku": "X"}],
        [{"id": 5, "option_values": [{"option": "Size", "value": "S"}], "sku": 12, "price": []}],
        [{"id": 5, "option_values": [{"option": "Size", "value": "S"}], "sku": "X",
          "custom_attributes": [{"name": "Weight", "value": None}], "upc": 5}],
    ],
)  # fmt: skip
def test_junk_variants_are_mapping_errors_or_skipped_never_crashes(junk):
    try:
        map_variants(tee(*junk), "kg")
    except MappingError as error:
        assert error.product_id == 101 and error.code
