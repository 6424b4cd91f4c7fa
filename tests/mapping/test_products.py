"""Product field rules: name, price, sku, upc, description, kind, type."""

from __future__ import annotations

import pytest

from shared.mapping import MappingError, map_product
from tests.mapping.factories import bindo_product, settings


def mapped(**overrides):
    return map_product(bindo_product(**overrides), settings())


def error_of(**overrides) -> MappingError:
    with pytest.raises(MappingError) as caught:
        map_product(bindo_product(**overrides), settings())
    return caught.value


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Trail Runner", "Trail Runner"),
        ("  Trail Runner \n", "Trail Runner"),
        ("x" * 250, "x" * 250),
    ],
)
def test_name_is_stripped(name, expected):
    assert mapped(name=name).name == expected


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "name_missing"),
        ("   ", "name_missing"),
        (None, "name_missing"),
        ("x" * 251, "name_too_long"),
    ],
)
def test_unusable_name_is_an_error(name, code):
    error = error_of(name=name)
    assert (error.field, error.code) == ("name", code)


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("12.50", 12.5),
        ("0", 0.0),
        ("0.00", 0.0),
        (" 7 ", 7.0),
        ("1.23456", 1.2346),
        ("1.23454", 1.2345),
        ("0.00005", 0.0001),
        ("1999999.9999", 1999999.9999),
        (10, 10.0),
        (2.5, 2.5),
    ],
)
def test_price_is_a_float_rounded_to_four_places(price, expected):
    assert mapped(price=price).price == expected


@pytest.mark.parametrize(
    ("price", "code"),
    [
        ("-0.01", "price_negative"),
        ("-5", "price_negative"),
        ("abc", "price_unparsable"),
        ("", "price_unparsable"),
        ("12,50", "price_unparsable"),
        (None, "price_unparsable"),
        ("NaN", "price_unparsable"),
        ("Infinity", "price_unparsable"),
        (True, "price_unparsable"),
    ],
)
def test_negative_or_unparsable_price_is_an_error(price, code):
    error = error_of(price=price)
    assert (error.field, error.code) == ("price", code)


@pytest.mark.parametrize(
    ("kind", "sku", "upc", "expected_sku", "expected_upc", "match_key"),
    [
        ("custom", "ABC-1", None, "ABC-1", None, ("sku", "ABC-1")),
        ("custom", " ABC-1 ", "012345678905", "ABC-1", "012345678905", ("sku", "ABC-1")),
        ("custom", None, None, None, None, None),
        ("custom", "", None, None, None, None),
        ("custom", "   ", None, None, None, None),
        ("upc", None, "012345678905", None, "012345678905", ("upc", "012345678905")),
        ("upc", "ABC-1", "012345678905", "ABC-1", "012345678905", ("upc", "012345678905")),
        ("upc", "", " 12345678901234 ", None, "12345678901234", ("upc", "12345678901234")),
    ],
)
def test_sku_and_upc_by_kind(kind, sku, upc, expected_sku, expected_upc, match_key):
    result = mapped(kind=kind, sku=sku, upc=upc)
    assert (result.sku, result.upc, result.match_key) == (expected_sku, expected_upc, match_key)


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"sku": "S" * 256}, "sku", "sku_too_long"),
        ({"upc": "123456789012345"}, "upc", "upc_too_long"),
        ({"upc": "01234-5678"}, "upc", "upc_invalid"),
        ({"upc": "ABC"}, "upc", "upc_invalid"),
        ({"upc": "١٢٣"}, "upc", "upc_invalid"),
        ({"kind": "upc", "upc": None}, "upc", "upc_missing"),
        ({"kind": "upc", "upc": "  "}, "upc", "upc_missing"),
        ({"kind": "bundle"}, "kind", "kind_unknown"),
        ({"kind": None}, "kind", "kind_unknown"),
        ({"id": None}, "id", "id_missing"),
        ({"description": "x" * 1_000_001}, "description", "description_too_long"),
    ],
)
def test_invalid_identity_fields_are_errors(overrides, field, code):
    error = error_of(**overrides)
    assert (error.field, error.code) == (field, code)


def test_sku_of_255_characters_is_kept():
    assert mapped(sku="S" * 255).sku == "S" * 255


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("<p>Light & <b>fast</b></p>", "<p>Light & <b>fast</b></p>"),
        ("  spaced  ", "  spaced  "),
        ("", ""),
        (None, ""),
        ("x" * 1_000_000, "x" * 1_000_000),
    ],
)
def test_description_is_kept_as_is(description, expected):
    assert mapped(description=description).description == expected


def test_ten_megabyte_description_is_a_per_product_error_with_short_value():
    error = error_of(description="x" * 10_000_000)
    assert error.code == "description_too_long"
    assert len(str(error.to_dict())) < 1000


@pytest.mark.parametrize("kind", ["custom", "upc"])
def test_every_product_is_physical(kind):
    result = mapped(kind=kind, upc="012345678905")
    assert (result.type, result.action) == ("physical", "upsert")


def test_brief_sample_product_maps_end_to_end():
    sample = bindo_product(
        upc="012345678905",
        custom_attributes=[
            {"name": "Weight", "value": "2 lb"},
            {"name": " category ", "value": "Sale"},
        ],
    )
    result = map_product(sample, settings(store_weight_unit="KGS"))
    assert (result.name, result.price, result.weight) == ("Trail Runner", 12.5, 0.9072)
    assert (result.sku, result.upc) == ("ABC-1", "012345678905")
    assert (result.category.path, result.category.source) == (("Sale",), "attribute")
    assert [(i.bindo_image_id, i.is_thumbnail) for i in result.images] == [(9001, True)]
