"""Per-merchant settings the mapping rules depend on, validated once per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .weights import store_weight_unit

ContentOwner = Literal["bindo", "bigcommerce"]
CONTENT_OWNERS: frozenset[str] = frozenset({"bindo", "bigcommerce"})


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """What map_product needs to know about the merchant and the store.

    ``store_weight_unit`` is /v2/store.weight_units as returned; an unknown unit raises
    MappingError(field="weight") here, once, rather than once per product.
    """

    store_weight_unit: str
    default_category_id: int | None = None
    content_managed_by: ContentOwner = "bindo"
    allow_orders_when_out_of_stock: bool = False
    safety_buffer: int = 0
    # Canonical unit ("lb", "oz", "g", "kg", "t"), derived from store_weight_unit.
    weight_unit: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.content_managed_by not in CONTENT_OWNERS:
            raise ValueError(
                f"content_managed_by must be 'bindo' or 'bigcommerce', "
                f"not {self.content_managed_by!r}"
            )
        if self.safety_buffer < 0:
            raise ValueError(f"safety_buffer must be >= 0, not {self.safety_buffer}")
        object.__setattr__(self, "weight_unit", store_weight_unit(self.store_weight_unit))
