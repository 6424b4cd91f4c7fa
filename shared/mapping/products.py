"""Product rule: a Bindo product -> BigCommerce catalog payloads, with declared field ownership."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from .categories import CategoryRef, choose_category
from .errors import MappingError, preview
from .images import ImageSpec, images_from_bindo
from .settings import MappingSettings
from .stock import InventoryTracking, inventory_tracking
from .visibility import is_online
from .weights import weight_from_attributes

# BigCommerce limits (CONTRACT section 3.2).
MAX_NAME = 250
MAX_SKU = 255
MAX_UPC = 14
# BigCommerce documents no description limit. 1,000,000 characters is far above any real
# description and far below what hurts a request: a 10 MB description becomes an error on
# that one product instead of a failed batch.
MAX_DESCRIPTION = 1_000_000
PRODUCT_TYPE = "physical"
PRODUCT_KINDS: frozenset[str] = frozenset({"custom", "upc"})

Action = Literal["upsert", "skip"]
Ownership = Literal["bindo", "content"]
UpdateRule = Literal["always", "when_changed", "when_bindo_manages_content", "never"]


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """Who owns a BigCommerce product field, and when it is sent.

    bindo: Bindo is the source of truth; sent on create and on every update.
    content: the merchant setting content_managed_by decides; sent on create, and on update
    only when Bindo manages content. ``on_update`` refines that per field.
    """

    field: str
    owner: Ownership
    on_update: UpdateRule
    why: str


FIELD_POLICIES: tuple[FieldPolicy, ...] = (
    FieldPolicy("name", "bindo", "always", "required on create; Bindo renames win"),
    FieldPolicy("type", "bindo", "always", "always physical: Bindo sells goods"),
    FieldPolicy("sku", "bindo", "always", "omitted when null: BigCommerce SKUs are unique"),
    FieldPolicy("upc", "bindo", "always", "identity of upc-kind products; omitted when null"),
    FieldPolicy("price", "bindo", "always", "POS price is the price"),
    FieldPolicy("weight", "bindo", "always", "from the Weight attribute, store unit"),
    FieldPolicy("categories", "bindo", "always", "PUT replaces all categories"),
    FieldPolicy("inventory_tracking", "bindo", "always", "follows the out-of-stock setting"),
    FieldPolicy("is_visible", "bindo", "when_changed", "a merchant's manual hide survives updates"),
    FieldPolicy(
        "description",
        "content",
        "when_bindo_manages_content",
        "a blank Bindo description never wipes a BigCommerce one",
    ),
    FieldPolicy("images", "content", "never", "updates go through the images sub-resource"),
)

BINDO_OWNED_FIELDS: frozenset[str] = frozenset(
    p.field for p in FIELD_POLICIES if p.owner == "bindo"
)
CONTENT_FIELDS: frozenset[str] = frozenset(p.field for p in FIELD_POLICIES if p.owner == "content")
# Every key a product payload may hold; "id" only in batch-update items.
PAYLOAD_FIELDS: frozenset[str] = BINDO_OWNED_FIELDS | CONTENT_FIELDS | {"id"}
# Fields Bindo has no data for. Listed so the docs and a test can show none is ever sent:
# sending them would overwrite the merchant's SEO and catalog work with blanks.
NEVER_SENT_FIELDS: frozenset[str] = frozenset(
    {
        "page_title",
        "meta_description",
        "meta_keywords",
        "search_keywords",
        "custom_url",
        "brand_id",
        "brand_name",
        "width",
        "depth",
        "height",
        "inventory_level",
        "inventory_warning_level",
        "availability",
        "gtin",
        "mpn",
        "custom_fields",
        "sort_order",
    }
)


@dataclass(frozen=True, slots=True)
class MappedProduct:
    """A Bindo product in BigCommerce terms, validated; payloads are built from it.

    action "skip" (offline: In Store Only or deleted) means: never create; if bound, send
    only visibility (build_hide_payload). Skipped products are not validated, so a junk
    weight on an in-store-only product is nobody's problem; their other fields are empty.
    """

    bindo_id: int
    action: Action
    skip_reason: str | None
    kind: str
    name: str
    sku: str | None
    upc: str | None
    price: float
    description: str
    weight: float
    category: CategoryRef | None
    images: tuple[ImageSpec, ...]
    inventory_tracking: InventoryTracking
    content_managed_by: str
    type: str = PRODUCT_TYPE

    @property
    def online(self) -> bool:
        return self.action == "upsert"

    @property
    def match_key(self) -> tuple[str, str] | None:
        """Filter that finds this product in an existing catalog: UPC for upc-kind, else SKU."""
        if self.kind == "upc" and self.upc:
            return ("upc", self.upc)
        if self.sku:
            return ("sku", self.sku)
        return None


def _map_name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise MappingError("name", "The product has no name", code="name_missing", value=value)
    if len(name) > MAX_NAME:
        raise MappingError(
            "name",
            f"The name is {len(name)} characters long; BigCommerce accepts at most {MAX_NAME}",
            code="name_too_long",
            value=name,
        )
    return name


_FOUR_PLACES = Decimal("0.0001")


def _map_price(value: Any) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise TypeError
        price = Decimal(value.strip() if isinstance(value, str) else str(value))
        if not price.is_finite():
            raise ValueError
    except (InvalidOperation, TypeError, ValueError):
        raise MappingError(
            "price",
            f"Price '{preview(value)}' is not a number",
            code="price_unparsable",
            value=value,
        ) from None
    if price < 0:
        raise MappingError(
            "price",
            f"Price '{preview(value)}' is negative; BigCommerce needs 0 or more",
            code="price_negative",
            value=value,
        )
    return float(price.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP))


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    return text or None  # never an empty string: BigCommerce treats sku as unique


def _map_sku(value: Any) -> str | None:
    sku = _optional_text(value)
    if sku is not None and len(sku) > MAX_SKU:
        raise MappingError(
            "sku",
            f"The SKU is {len(sku)} characters long; BigCommerce accepts at most {MAX_SKU}",
            code="sku_too_long",
            value=sku,
        )
    return sku


def _map_upc(value: Any, kind: str) -> str | None:
    upc = _optional_text(value)
    if upc is None:
        if kind == "upc":
            raise MappingError(
                "upc",
                "This is a UPC product but it has no UPC",
                code="upc_missing",
                value=value,
            )
        return None
    if not (upc.isascii() and upc.isdigit()):
        raise MappingError(
            "upc", f"UPC '{preview(upc)}' must be digits only", code="upc_invalid", value=upc
        )
    if len(upc) > MAX_UPC:
        raise MappingError(
            "upc",
            f"UPC '{preview(upc)}' has {len(upc)} digits; BigCommerce accepts at most {MAX_UPC}",
            code="upc_too_long",
            value=upc,
        )
    return upc


def _map_description(value: Any) -> str:
    description = value if isinstance(value, str) else ""
    if len(description) > MAX_DESCRIPTION:
        raise MappingError(
            "description",
            f"The description is {len(description):,} characters long; the limit is "
            f"{MAX_DESCRIPTION:,}",
            code="description_too_long",
            value=description,
        )
    return description


def _map_kind(value: Any) -> str:
    if value not in PRODUCT_KINDS:
        raise MappingError(
            "kind",
            f"Product kind '{preview(value)}' is unknown (expected custom or upc)",
            code="kind_unknown",
            value=value,
        )
    return value


def map_product(product: Mapping[str, Any], settings: MappingSettings) -> MappedProduct:
    """Validate and map one Bindo product; raises MappingError (with product_id) on bad data."""
    bindo_id = product.get("id")
    if not isinstance(bindo_id, int) or isinstance(bindo_id, bool):
        raise MappingError("id", "The product has no Bindo id", code="id_missing", value=bindo_id)
    if not is_online(product):
        return MappedProduct(
            bindo_id=bindo_id,
            action="skip",
            skip_reason="deleted" if product.get("deleted") else "in_store_only",
            kind=product.get("kind") or "",
            name="",
            sku=None,
            upc=None,
            price=0.0,
            description="",
            weight=0.0,
            category=None,
            images=(),
            inventory_tracking=inventory_tracking(settings.allow_orders_when_out_of_stock),
            content_managed_by=settings.content_managed_by,
        )
    try:
        kind = _map_kind(product.get("kind"))
        return MappedProduct(
            bindo_id=bindo_id,
            action="upsert",
            skip_reason=None,
            kind=kind,
            name=_map_name(product.get("name")),
            sku=_map_sku(product.get("sku")),
            upc=_map_upc(product.get("upc"), kind),
            price=_map_price(product.get("price")),
            description=_map_description(product.get("description")),
            weight=weight_from_attributes(product.get("custom_attributes"), settings.weight_unit),
            category=choose_category(product, settings.default_category_id),
            images=images_from_bindo(product.get("images")),
            inventory_tracking=inventory_tracking(settings.allow_orders_when_out_of_stock),
            content_managed_by=settings.content_managed_by,
        )
    except MappingError as error:
        error.product_id = bindo_id
        raise


# Markup that shows nothing: "<p></p>", "<p>&nbsp;</p><br>". Only these container tags count,
# so a description holding just an image or a video is not blank.
_BLANK_HTML = re.compile(
    r"(?:\s|&nbsp;|&#160;|</?(?:p|div|span|br|b|i|strong|em)\b[^>]*>)*", re.IGNORECASE
)


def is_blank_description(description: str) -> bool:
    """True for a description that shows nothing (whitespace or empty markup)."""
    return _BLANK_HTML.fullmatch(description) is not None


_OMIT = object()

# How each payload field is read from a mapped product; _OMIT leaves the key out.
_FIELD_VALUE: dict[str, Callable[[MappedProduct, list[int]], Any]] = {
    "name": lambda m, c: m.name,
    "type": lambda m, c: m.type,
    "sku": lambda m, c: _OMIT if m.sku is None else m.sku,
    "upc": lambda m, c: _OMIT if m.upc is None else m.upc,
    "price": lambda m, c: m.price,
    "weight": lambda m, c: m.weight,
    "categories": lambda m, c: list(c),
    "inventory_tracking": lambda m, c: m.inventory_tracking,
    "description": lambda m, c: m.description,
    "images": lambda m, c: [image.as_payload() for image in m.images],
}
_CREATE_FIELDS: tuple[str, ...] = tuple(p.field for p in FIELD_POLICIES if p.field in _FIELD_VALUE)
_UPDATE_ALWAYS: tuple[str, ...] = tuple(
    p.field for p in FIELD_POLICIES if p.on_update == "always" and p.field in _FIELD_VALUE
)
_UPDATE_CONTENT: tuple[str, ...] = tuple(
    p.field for p in FIELD_POLICIES if p.on_update == "when_bindo_manages_content"
)


def _require_upsert(mapped: MappedProduct, category_ids: Sequence[int]) -> None:
    if mapped.action != "upsert":
        raise ValueError(
            f"Bindo product {mapped.bindo_id} is {mapped.skip_reason}: it is never created "
            "or updated, only hidden (build_hide_payload)"
        )
    if not category_ids:
        raise ValueError("category_ids must hold at least one BigCommerce category id")


def build_create_payload(mapped: MappedProduct, category_ids: Sequence[int]) -> dict[str, Any]:
    """Body of POST /v3/catalog/products: every field we own, images inline, visible.

    No inventory_level: stock goes through the Inventory API, which rejects what the
    catalog silently clamps.
    """
    _require_upsert(mapped, category_ids)
    ids = list(category_ids)
    payload: dict[str, Any] = {}
    for name in _CREATE_FIELDS:
        value = _FIELD_VALUE[name](mapped, ids)
        if value is not _OMIT:
            payload[name] = value
    payload["is_visible"] = True
    return payload


def build_update_payload(
    mapped: MappedProduct,
    category_ids: Sequence[int],
    *,
    bc_id: int,
    visibility: bool | None,
) -> dict[str, Any]:
    """One item of PUT /v3/catalog/products (batch): "id" plus the fields we may overwrite.

    ``visibility`` comes from decide_visibility; None leaves is_visible out. No images
    (plan_images handles them). The description only when Bindo manages content and it is
    not blank.
    """
    _require_upsert(mapped, category_ids)
    ids = list(category_ids)
    payload: dict[str, Any] = {"id": bc_id}
    for name in _UPDATE_ALWAYS:
        value = _FIELD_VALUE[name](mapped, ids)
        if value is not _OMIT:
            payload[name] = value
    if visibility is not None:
        payload["is_visible"] = visibility
    if mapped.content_managed_by == "bindo":
        for name in _UPDATE_CONTENT:
            value = _FIELD_VALUE[name](mapped, ids)
            if not (name == "description" and is_blank_description(value)):
                payload[name] = value
    return payload


def build_hide_payload(bc_id: int) -> dict[str, Any]:
    """Batch-update item that only hides a product (deleted or In Store Only in Bindo)."""
    return {"id": bc_id, "is_visible": False}


def payload_hash(payload: Mapping[str, Any], images: Sequence[ImageSpec]) -> str:
    """sha256 of the canonical JSON of a payload and its images: equal hash, nothing to send."""
    canonical = json.dumps(
        {
            "payload": payload,
            "images": [[i.bindo_image_id, i.url, i.sort_order, i.is_thumbnail] for i in images],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
