"""Category rule: attribute, then Bindo category, then the merchant default; name resolution."""

from __future__ import annotations

import pytest

from shared.mapping import (
    CategoryIndex,
    CategoryRef,
    MappingError,
    choose_category,
    map_product,
    normalise_category_name,
    resolve_category_path,
    split_category_path,
)
from tests.mapping.factories import bindo_product, settings


def cat_attr(value, name="Category"):
    return [{"name": name, "value": value}]


@pytest.mark.parametrize(
    ("attributes", "bindo_category", "default_id", "expected"),
    [
        (cat_attr("Sale"), "Shoes > Running", 1, CategoryRef(("Sale",), None, "attribute")),
        (
            cat_attr("Sale > Shoes", name=" category "),
            None,
            None,
            CategoryRef(("Sale", "Shoes"), None, "attribute"),
        ),
        (
            cat_attr("x", name="CATEGORY"),
            "Shoes",
            None,
            CategoryRef(("x",), None, "attribute"),
        ),
        (cat_attr(""), "Shoes > Running", 1, CategoryRef(("Shoes", "Running"), None, "bindo")),
        (cat_attr("  "), "Shoes", 1, CategoryRef(("Shoes",), None, "bindo")),
        (cat_attr(" > "), "Shoes", 1, CategoryRef(("Shoes",), None, "bindo")),
        (cat_attr(None), "Shoes", 1, CategoryRef(("Shoes",), None, "bindo")),
        ([], "Shoes > Running", 1, CategoryRef(("Shoes", "Running"), None, "bindo")),
        ([], None, 42, CategoryRef(None, 42, "default")),
        ([], "", 42, CategoryRef(None, 42, "default")),
        ([], " >> ", 42, CategoryRef(None, 42, "default")),
        (cat_attr(""), None, 42, CategoryRef(None, 42, "default")),
        ([{"name": "Categories", "value": "X"}], None, 42, CategoryRef(None, 42, "default")),
    ],
)
def test_category_precedence(attributes, bindo_category, default_id, expected):
    product = bindo_product(custom_attributes=attributes, category=bindo_category)
    assert choose_category(product, default_id) == expected


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("Shoes > Running", ("Shoes", "Running")),
        ("Shoes>Running", ("Shoes", "Running")),
        (" Shoes >  > Running > ", ("Shoes", "Running")),
        ("> Shoes", ("Shoes",)),
        ("Shoes", ("Shoes",)),
        ("", ()),
        (None, ()),
    ],
)
def test_category_paths_split_on_greater_than_and_drop_blank_parts(text, path):
    assert split_category_path(text) == path


def test_no_category_anywhere_tells_merchant_to_set_a_default():
    with pytest.raises(MappingError) as caught:
        map_product(bindo_product(category=None), settings(default_category_id=None))
    error = caught.value
    assert (error.field, error.code) == ("category", "category_missing")
    assert "Default BigCommerce Category in the app settings" in error.message
    assert "app settings" in error.plain


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("A>B>C>D>E>F>G>H>I", "category_too_deep"),
        ("Shoes > " + "x" * 51, "category_name_too_long"),
    ],
)
def test_category_beyond_bigcommerce_limits_is_an_error(text, code):
    with pytest.raises(MappingError) as caught:
        choose_category(bindo_product(category=text), None)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Shoes", "shoes"),
        ("  Running  Shoes ", "running shoes"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
    ],
)
def test_category_names_compare_case_and_space_insensitively(name, key):
    assert normalise_category_name(name) == key


TREE = [
    {"id": 10, "parent_id": 0, "name": "Shoes"},
    {"id": 11, "parent_id": 10, "name": "Running"},
    {"id": 12, "parent_id": 10, "name": "Walking"},
    {"id": 20, "parent_id": 0, "name": "Sale"},
    {"id": 21, "parent_id": 20, "name": "Shoes"},
    {"category_id": 30, "parent_id": 0, "name": "Trees API Style"},
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("Shoes", "Running"), (11, [], 11)),
        (("shoes", " RUNNING "), (11, [], 11)),
        (("Shoes",), (10, [], 10)),
        (("Sale", "Shoes"), (21, [], 21)),
        (("Shoes", "Trail"), (None, ["Trail"], 10)),
        (("Shoes", "Running", "Kids", "Girls"), (None, ["Kids", "Girls"], 11)),
        (("Hats", "Winter"), (None, ["Hats", "Winter"], 0)),
        (("Running",), (None, ["Running"], 0)),
        (("trees api style",), (30, [], 30)),
        ((), (None, [], 0)),
    ],
)
def test_resolve_category_path_finds_leaf_or_what_to_create(path, expected):
    assert resolve_category_path(path, TREE) == expected


def test_duplicate_sibling_names_resolve_to_the_oldest_category():
    categories = [
        {"id": 7, "parent_id": 0, "name": "shoes"},
        {"id": 3, "parent_id": 0, "name": "Shoes"},
    ]
    assert CategoryIndex(categories).resolve(("SHOES",)) == (3, [], 3)
