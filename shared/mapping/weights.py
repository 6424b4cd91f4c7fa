"""Weight rule: the Bindo "Weight" attribute, converted to the store's weight unit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .attributes import attribute_value
from .errors import MappingError, preview

WEIGHT_ATTRIBUTE = "weight"

# Exact definitions (international avoirdupois pound, 1959), so conversions never drift.
GRAMS_PER_UNIT: dict[str, Decimal] = {
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
    "g": Decimal("1"),
    "kg": Decimal("1000"),
    "t": Decimal("1000000"),
}

# Units staff may type in the Bindo attribute (matched case-insensitively). Long spellings
# are accepted too: refusing "2 pounds" would be an error nobody understands.
ATTRIBUTE_UNITS: dict[str, str] = {
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "oz": "oz",
    "ozs": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "kgs": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
}

# /v2/store.weight_units: the v3 enum is LBS, Ounces, KGS, Grams, Tonnes; the v2 strings are
# not confirmed (CONTRACT section 6), so common spellings are accepted as well.
STORE_UNITS: dict[str, str] = {
    "lbs": "lb",
    "lb": "lb",
    "pound": "lb",
    "pounds": "lb",
    "ounces": "oz",
    "ounce": "oz",
    "oz": "oz",
    "kgs": "kg",
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "grams": "g",
    "gram": "g",
    "g": "g",
    "tonnes": "t",
    "tonne": "t",
}

# Sent when a product has no weight: BigCommerce requires one on create (CONTRACT 3.2).
DEFAULT_WEIGHT = Decimal("1")
MAX_WEIGHT = Decimal("9999999999")
_FOUR_PLACES = Decimal("0.0001")

# Sign captured separately so "-1 kg" gets its own message instead of "not understood".
_WEIGHT_RE = re.compile(r"(-?)\s*([0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)\s*([a-z]*)", re.IGNORECASE)

ACCEPTED_FORMS = "use a number with lb, oz, g or kg (for example '2 lb' or '500 g')"


def store_weight_unit(name: str) -> str:
    """Canonical unit ("lb", "oz", "g", "kg", "t") for a /v2/store.weight_units value."""
    unit = STORE_UNITS.get(name.strip().casefold()) if isinstance(name, str) else None
    if unit is None:
        raise MappingError(
            "weight",
            f"The store weight unit '{preview(name)}' is not one we can convert to",
            code="store_weight_unit_unknown",
            value=name,
        )
    return unit


def parse_weight(text: str) -> tuple[Decimal, str | None]:
    """Amount and canonical unit of a weight attribute; unit None for a bare number."""
    match = _WEIGHT_RE.fullmatch(text.strip())
    unit = None
    if match is not None and match.group(3):
        unit = ATTRIBUTE_UNITS.get(match.group(3).casefold())
    if match is None or (match.group(3) and unit is None):
        raise MappingError(
            "weight",
            f"Weight '{preview(text)}' not understood: {ACCEPTED_FORMS}",
            code="weight_unparsable",
            value=text,
        )
    if match.group(1):
        raise MappingError(
            "weight",
            f"Weight '{preview(text)}' is negative: {ACCEPTED_FORMS}",
            code="weight_negative",
            value=text,
        )
    return Decimal(match.group(2).replace(",", ".")), unit


def convert_weight(amount: Decimal, unit: str | None, store_unit: str) -> Decimal:
    """``amount`` in ``unit`` expressed in ``store_unit``, rounded half-up to 4 places.

    A bare number (unit None) is taken to be in the store unit already: that is how staff
    who know their store's unit have always typed it.
    """
    if unit is not None and unit != store_unit:
        amount = amount * GRAMS_PER_UNIT[unit] / GRAMS_PER_UNIT[store_unit]
    return amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)


def weight_from_attributes(
    attributes: Iterable[Mapping[str, Any]] | None, store_unit: str
) -> float:
    """Store-unit weight of a Bindo product from its "Weight" attribute (1 when absent)."""
    text = attribute_value(attributes, WEIGHT_ATTRIBUTE)
    if text is None:
        return float(DEFAULT_WEIGHT)
    amount, unit = parse_weight(text)
    weight = convert_weight(amount, unit, store_unit)
    if weight > MAX_WEIGHT:
        raise MappingError(
            "weight",
            f"Weight '{preview(text)}' is more than BigCommerce accepts "
            f"({MAX_WEIGHT:,} in the store unit)",
            code="weight_too_large",
            value=text,
        )
    return float(weight)
