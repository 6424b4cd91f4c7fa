"""Category rule: which category a product goes in, and which BigCommerce categories exist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .attributes import attribute_value
from .errors import MappingError, preview

CATEGORY_ATTRIBUTE = "category"
PATH_SEPARATOR = ">"
# BigCommerce limits (CONTRACT section 5.1): a longer name or deeper path would fail at
# category creation, far from the product that caused it.
MAX_CATEGORY_NAME = 50
MAX_CATEGORY_DEPTH = 8
# parent_id of a top-level category in the category trees API.
ROOT_PARENT_ID = 0

CategorySource = Literal["attribute", "bindo", "default"]


@dataclass(frozen=True, slots=True)
class CategoryRef:
    """Where a product goes: a name path to resolve, or the merchant's default category id."""

    path: tuple[str, ...] | None
    category_id: int | None
    source: CategorySource


def normalise_category_name(name: str) -> str:
    """Comparison key for category names: case and spacing differ between the two systems."""
    return " ".join(name.split()).casefold()


def split_category_path(text: str | None) -> tuple[str, ...]:
    """ "Shoes > Running" -> ("Shoes", "Running"); blank parts ("A >> B", "> A") dropped."""
    if not text:
        return ()
    return tuple(part for part in (p.strip() for p in text.split(PATH_SEPARATOR)) if part)


def _checked(path: tuple[str, ...], text: str) -> tuple[str, ...]:
    if len(path) > MAX_CATEGORY_DEPTH:
        raise MappingError(
            "category",
            f"Category '{preview(text)}' is {len(path)} levels deep; BigCommerce allows "
            f"{MAX_CATEGORY_DEPTH}",
            code="category_too_deep",
            value=text,
        )
    for part in path:
        if len(part) > MAX_CATEGORY_NAME:
            raise MappingError(
                "category",
                f"Category name '{preview(part)}' is longer than the {MAX_CATEGORY_NAME} "
                "characters BigCommerce allows",
                code="category_name_too_long",
                value=text,
            )
    return path


def choose_category(product: Mapping[str, Any], default_category_id: int | None) -> CategoryRef:
    """Category precedence: "Category" attribute, then Bindo's category, then the default.

    A source that is blank (or only separators) falls through to the next one.
    """
    text = attribute_value(product.get("custom_attributes"), CATEGORY_ATTRIBUTE)
    path = split_category_path(text)
    if path:
        return CategoryRef(_checked(path, text or ""), None, "attribute")
    bindo = product.get("category")
    path = split_category_path(bindo if isinstance(bindo, str) else None)
    if path:
        return CategoryRef(_checked(path, bindo), None, "bindo")
    if default_category_id is not None:
        return CategoryRef(None, default_category_id, "default")
    raise MappingError(
        "category",
        "This product has no category in Bindo and no Default BigCommerce Category is set: "
        "give the product a category in Bindo, or set a Default BigCommerce Category in the "
        "app settings",
        code="category_missing",
    )


class CategoryIndex:
    """Lookup of existing BigCommerce categories by (parent id, normalised name).

    Build it once per run from the flat category list (category trees API items carry
    ``category_id``, the older API ``id``; both are accepted) and resolve many paths.
    """

    __slots__ = ("_by_parent_and_name",)

    def __init__(self, categories: Iterable[Mapping[str, Any]]) -> None:
        index: dict[tuple[int, str], int] = {}
        for category in categories:
            category_id = category.get("category_id", category.get("id"))
            name = category.get("name")
            if not isinstance(category_id, int) or not isinstance(name, str):
                continue
            key = (category.get("parent_id") or ROOT_PARENT_ID, normalise_category_name(name))
            # Siblings differing only in case can exist; the oldest (lowest id) wins so the
            # choice is the same on every run.
            if key not in index or category_id < index[key]:
                index[key] = category_id
        self._by_parent_and_name = index

    def resolve(self, path: Sequence[str]) -> tuple[int | None, list[str], int]:
        """(leaf id or None, names still to create in order, parent id for the first of them).

        Fully found: (leaf_id, [], leaf_id). Nothing found: (None, list(path), 0).
        """
        parent = ROOT_PARENT_ID
        for depth, name in enumerate(path):
            found = self._by_parent_and_name.get((parent, normalise_category_name(name)))
            if found is None:
                return None, list(path[depth:]), parent
            parent = found
        if not path:
            return None, [], ROOT_PARENT_ID
        return parent, [], parent


def resolve_category_path(
    path: Sequence[str], categories: Iterable[Mapping[str, Any]]
) -> tuple[int | None, list[str], int]:
    """One-off form of CategoryIndex(categories).resolve(path); see CategoryIndex.resolve."""
    return CategoryIndex(categories).resolve(path)
