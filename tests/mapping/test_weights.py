"""Weight rule: the "Weight" attribute converted to the store unit, never a silent default."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.mapping import (
    MappingError,
    MappingSettings,
    convert_weight,
    map_product,
    parse_weight,
    store_weight_unit,
    weight_from_attributes,
)
from tests.mapping.factories import bindo_product, settings


def weight_attr(value, name="Weight"):
    return [{"name": name, "value": value}]


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("2 lb", "2", "lb"),
        ("2 lbs", "2", "lb"),
        ("2 LB", "2", "lb"),
        ("2.5LBS", "2.5", "lb"),
        ("2 g", "2", "g"),
        ("2G", "2", "g"),
        ("2 oz", "2", "oz"),
        ("2 ozs", "2", "oz"),
        ("2 kg", "2", "kg"),
        ("2 kgs", "2", "kg"),
        ("2Kg", "2", "kg"),
        ("1,5 kg", "1.5", "kg"),
        (" 1.5 kg ", "1.5", "kg"),
        (".5 kg", "0.5", "kg"),
        ("2 pounds", "2", "lb"),
        ("3 ounces", "3", "oz"),
        ("250 grams", "250", "g"),
        ("0 kg", "0", "kg"),
        ("3", "3", None),
        ("3.5", "3.5", None),
        ("3,5", "3.5", None),
    ],
)
def test_accepted_weight_forms_parse_to_amount_and_unit(text, amount, unit):
    assert parse_weight(text) == (Decimal(amount), unit)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("heavy", "weight_unparsable"),
        ("2 stone", "weight_unparsable"),
        ("kg", "weight_unparsable"),
        ("2 kg 300 g", "weight_unparsable"),
        ("1,000,000 g", "weight_unparsable"),
        ("2..5 kg", "weight_unparsable"),
        ("٣ kg", "weight_unparsable"),
        ("-1 kg", "weight_negative"),
        ("-3", "weight_negative"),
    ],
)
def test_unusable_weight_is_an_error_naming_the_value(text, code):
    with pytest.raises(MappingError) as caught:
        parse_weight(text)
    assert caught.value.field == "weight"
    assert caught.value.code == code
    assert f"'{text}'" in caught.value.message
    assert "lb, oz, g or kg" in caught.value.message


def test_stone_message_tells_the_accepted_forms():
    with pytest.raises(MappingError) as caught:
        parse_weight("2 stone")
    assert caught.value.message == (
        "Weight '2 stone' not understood: use a number with lb, oz, g or kg "
        "(for example '2 lb' or '500 g')"
    )


@pytest.mark.parametrize(
    ("text", "store_unit", "expected"),
    [
        ("2 lb", "KGS", 0.9072),
        ("1 lb", "Grams", 453.5924),
        ("16 oz", "LBS", 1.0),
        ("1 oz", "Grams", 28.3495),
        ("1 kg", "LBS", 2.2046),
        ("1 kg", "Ounces", 35.274),
        ("500 g", "KGS", 0.5),
        ("1,5 kg", "Grams", 1500.0),
        ("2 kg", "Tonnes", 0.002),
        ("1 g", "Tonnes", 0.0),
        ("2.5LBS", "LBS", 2.5),
        ("12 oz", "Ounces", 12.0),
        ("3", "KGS", 3.0),
        ("3,5", "Ounces", 3.5),
        ("0 kg", "LBS", 0.0),
        ("1.00005 kg", "KGS", 1.0001),
    ],
)
def test_weight_attribute_converts_to_store_unit(text, store_unit, expected):
    unit = store_weight_unit(store_unit)
    assert weight_from_attributes(weight_attr(text), unit) == expected


def test_weight_in_ounces_converts_to_store_kilograms():
    mapped = map_product(
        bindo_product(custom_attributes=weight_attr("32 oz")), settings(store_weight_unit="KGS")
    )
    assert mapped.weight == 0.9072


@pytest.mark.parametrize(
    "attributes",
    [
        [],
        None,
        [{"name": "Colour", "value": "Blue"}],
        weight_attr(""),
        weight_attr("   "),
        weight_attr(None),
    ],
)
def test_missing_or_blank_weight_is_one_store_unit(attributes):
    assert weight_from_attributes(attributes, "lb") == 1.0


@pytest.mark.parametrize("name", ["Weight", "weight", " WEIGHT ", "wEiGhT\t"])
def test_weight_attribute_name_matches_case_and_spaces(name):
    assert weight_from_attributes(weight_attr("500 g", name=name), "kg") == 0.5


def test_first_non_blank_weight_attribute_wins():
    attributes = weight_attr("") + weight_attr("2 kg") + weight_attr("9 kg")
    assert weight_from_attributes(attributes, "kg") == 2.0


def test_weight_above_bigcommerce_maximum_is_an_error():
    with pytest.raises(MappingError) as caught:
        weight_from_attributes(weight_attr("99999999999 kg"), "kg")
    assert caught.value.code == "weight_too_large"


@pytest.mark.parametrize(
    ("store_value", "unit"),
    [
        ("LBS", "lb"),
        ("Ounces", "oz"),
        ("KGS", "kg"),
        ("Grams", "g"),
        ("Tonnes", "t"),
        ("lbs", "lb"),
        ("pounds", "lb"),
        ("ounces", "oz"),
        ("kilograms", "kg"),
        ("grams", "g"),
        ("tonnes", "t"),
        (" kgs ", "kg"),
    ],
)
def test_store_weight_unit_spellings_are_understood(store_value, unit):
    assert store_weight_unit(store_value) == unit


@pytest.mark.parametrize("store_value", ["Stones", "", "metric", None])
def test_unknown_store_weight_unit_is_an_error_naming_the_unit(store_value):
    with pytest.raises(MappingError) as caught:
        MappingSettings(store_weight_unit=store_value)
    assert caught.value.field == "weight"
    assert caught.value.code == "store_weight_unit_unknown"
    assert f"'{store_value}'" in caught.value.message


def test_conversion_uses_exact_factors_before_rounding():
    # 1 lb is exactly 453.59237 g: rounding happens once, at the end.
    assert convert_weight(Decimal("1000"), "lb", "kg") == Decimal("453.5924")


def test_unparsable_weight_on_a_product_carries_the_product_id():
    with pytest.raises(MappingError) as caught:
        map_product(bindo_product(id=555, custom_attributes=weight_attr("heavy")), settings())
    assert caught.value.product_id == 555
    assert caught.value.code == "weight_unparsable"
