"""Typed mapping errors: one bad field of one record, shown to staff and merchants as a sentence."""

from __future__ import annotations

from typing import Any

# Long enough to recognise the value, short enough that a 10 MB description never lands in a
# status row, a log line or the merchant page.
PREVIEW_CHARS = 120

# Where the merchant goes to fix an error, by code; anything not listed is fixed on the
# product in Bindo. A table rather than branches so the merchant page copy is reviewable.
_FIX_BY_CODE: dict[str, str] = {
    "category_missing": (
        "Set a Default BigCommerce Category in the app settings; products sync again once "
        "it is saved."
    ),
    "store_weight_unit_unknown": (
        "Set the weight unit in the BigCommerce control panel (Settings > Store settings > "
        "Display) to pounds, ounces, kilograms, grams or tonnes, then ask us to retry."
    ),
}
_FIX_BY_FIELD_PREFIX: dict[str, str] = {
    "order": "Check the order in BigCommerce; our staff can retry the import once it is fixed.",
    "stock": "Correct the stock quantity in Bindo; it syncs again on the next stock change.",
}
_DEFAULT_FIX = "Correct it on the product in Bindo; it syncs again as soon as it is saved."


def preview(value: Any) -> str:
    """Short, printable form of a value for messages (truncated, never the whole thing)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > PREVIEW_CHARS:
        return f"{text[:PREVIEW_CHARS]}... ({len(text):,} characters)"
    return text


class MappingError(ValueError):
    """A record cannot be mapped: final until someone fixes the data or a setting.

    ``field`` names the BigCommerce/Bindo field, ``code`` is a short stable identifier for
    tests, metrics and translations, ``message`` is the sentence for staff.
    """

    def __init__(
        self,
        field: str,
        message: str,
        *,
        code: str,
        value: Any = None,
        product_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code
        self.value = value
        self.product_id = product_id

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions unpickle as cls(*args); ours has keyword-only fields, and RQ or a process
        # pool may pickle it.
        return (
            _rebuild,
            (self.field, self.message, self.code, self.value, self.product_id),
        )

    def __repr__(self) -> str:
        return f"MappingError(field={self.field!r}, code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for a status row; the value is previewed, never stored whole."""
        return {
            "field": self.field,
            "code": self.code,
            "message": self.message,
            "value": None if self.value is None else preview(self.value),
            "product_id": self.product_id,
            "plain": self.plain,
        }

    @property
    def plain(self) -> str:
        """One or two plain sentences for the merchant page: what is wrong and how to fix it."""
        fix = _FIX_BY_CODE.get(self.code)
        if fix is None:
            prefix = self.field.split("_", 1)[0]
            fix = _FIX_BY_FIELD_PREFIX.get(prefix, _DEFAULT_FIX)
        subject = f"Bindo product {self.product_id}: " if self.product_id is not None else ""
        message = self.message if self.message.endswith(".") else f"{self.message}."
        return f"{subject}{message} {fix}"


def _rebuild(
    field: str, message: str, code: str, value: Any, product_id: int | None
) -> MappingError:
    return MappingError(field, message, code=code, value=value, product_id=product_id)
