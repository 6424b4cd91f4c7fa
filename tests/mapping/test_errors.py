"""MappingError: a field, a code, a short value, and a sentence with the fix."""

from __future__ import annotations

import json
import pickle

import pytest

from shared.mapping import MappingError, map_product
from tests.mapping.factories import bindo_product, settings


def test_to_dict_is_json_safe_and_names_everything():
    error = MappingError("weight", "Weight 'x' not understood", code="weight_unparsable", value="x")
    error.product_id = 7
    data = error.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["field"] == "weight"
    assert data["code"] == "weight_unparsable"
    assert data["value"] == "x"
    assert data["product_id"] == 7


def test_large_values_are_previewed_not_stored():
    error = MappingError("description", "too long", code="description_too_long", value="x" * 10**6)
    assert len(error.to_dict()["value"]) < 200
    assert "1,000,000 characters" in error.to_dict()["value"]


@pytest.mark.parametrize(
    ("overrides", "settings_overrides", "fix"),
    [
        ({"price": "abc"}, {}, "on the product in Bindo"),
        ({"custom_attributes": [{"name": "Weight", "value": "heavy"}]}, {}, "in Bindo"),
        ({"category": None}, {"default_category_id": None}, "app settings"),
    ],
)
def test_plain_sentence_names_the_product_and_the_fix(overrides, settings_overrides, fix):
    with pytest.raises(MappingError) as caught:
        map_product(bindo_product(id=321, **overrides), settings(**settings_overrides))
    plain = caught.value.plain
    assert plain.startswith("Bindo product 321: ")
    assert fix in plain
    assert caught.value.message in plain


@pytest.mark.parametrize(
    ("field", "code", "fix"),
    [
        ("stock", "stock_unparsable", "stock quantity in Bindo"),
        ("order_price", "order_price_unparsable", "order in BigCommerce"),
        ("weight", "store_weight_unit_unknown", "BigCommerce control panel"),
    ],
)
def test_plain_fix_depends_on_where_the_data_lives(field, code, fix):
    assert fix in MappingError(field, "Broken", code=code).plain


def test_mapping_error_is_a_value_error_with_its_message():
    error = MappingError("name", "The product has no name", code="name_missing")
    assert isinstance(error, ValueError)
    assert str(error) == "The product has no name"


def test_mapping_error_survives_pickling_for_job_queues():
    error = MappingError("weight", "bad", code="weight_unparsable", value="x", product_id=3)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.to_dict() == error.to_dict()
