"""Reading Bindo custom attributes, whose names are typed by hand ("Weight", " category ")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def attribute_key(name: Any) -> str:
    """Key used to compare attribute names: staff type them with stray spaces and any case."""
    return name.strip().casefold() if isinstance(name, str) else ""


def attribute_value(attributes: Iterable[Mapping[str, Any]] | None, key: str) -> str | None:
    """First non-blank value of the attribute named ``key`` (already casefolded), stripped.

    Blank values are skipped rather than returned so that a blank "Weight" or "Category"
    falls through to the next rule instead of becoming an error.
    """
    if not attributes:
        return None
    for attribute in attributes:
        if attribute_key(attribute.get("name")) != key:
            continue
        value = attribute.get("value")
        if value is None or isinstance(value, bool):
            continue
        text = (value if isinstance(value, str) else str(value)).strip()
        if text:
            return text
    return None
