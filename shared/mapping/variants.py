"""Variant rule: a Bindo product's options and variants -> BigCommerce variant payloads.

Every product-level rule (In Store Only, hide never delete, category precedence, image and
description ownership, Bindo owns its fields) stays in products.py and applies per product;
this module adds what is per variant: option values, SKU, UPC, price (or the product's), weight
(from the variant's own Weight attribute, or the product's), and the stock tracking mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .attributes import attribute_value
from .errors import MappingError, preview
from .orders import MappedOrder, UnknownLine
from .products import MappedProduct, _map_price, _map_sku, _map_upc, build_create_payload
from .stock import stock_level
from .weights import WEIGHT_ATTRIBUTE, weight_from_attributes

# BigCommerce limits (specs/product-variants_catalog.v3.yml, product-variant-options...).
MAX_VARIANTS = 600  # "600 SKUs per product"
MAX_OPTION_TEXT = 255  # option display name and value label
VARIANT_BATCH = 50  # PUT /v3/catalog/variants
REMOVED_MESSAGE = "No longer available"

VariantTracking = Literal["variant", "none"]


@dataclass(frozen=True, slots=True)
class MappedVariant:
    """One Bindo variant in BigCommerce terms. ``price``/``weight`` None: the product's."""

    bindo_variant_id: int
    option_values: tuple[tuple[str, str], ...]  # (option name, value), product option order
    sku: str
    upc: str | None
    price: float | None
    weight: float | None
    removed: bool  # deleted in Bindo: made unpurchasable in BigCommerce, never deleted

    @property
    def label(self) -> str:
        """How staff and merchants recognise the variant: its option values and SKU."""
        return variant_label(self.option_values, self.sku)

    @property
    def combination(self) -> frozenset[tuple[str, str]]:
        """Option values as a case-blind set (how a BigCommerce variant is matched by options)."""
        return frozenset((o.casefold(), v.casefold()) for o, v in self.option_values)


def variant_label(option_values: Iterable[tuple[str, str]], sku: str | None) -> str:
    """'Size: M, Colour: Red (SKU TEE-M-RED)'."""
    values = ", ".join(f"{option}: {value}" for option, value in option_values)
    return f"{values} (SKU {sku})" if sku else values or "variant"


def has_variants(product: Mapping[str, Any]) -> bool:
    """A product with variants (docs/bindo-api.md); products without them are unchanged."""
    return bool(product.get("variants"))


def variant_tracking(allow_orders_when_out_of_stock: bool) -> VariantTracking:
    """Stock per variant so each size stops selling at 0; "none" when the merchant sells
    regardless (same reasoning as stock.inventory_tracking)."""
    return "none" if allow_orders_when_out_of_stock else "variant"


def _variant_error(error: MappingError, label: str, product_id: int | None) -> MappingError:
    """The same error, its message naming the variant (merchants see it on their page)."""
    return MappingError(
        error.field,
        f"Variant {label}: {error.message}",
        code=error.code,
        value=error.value,
        product_id=product_id,
    )


def _option_values(raw: Any, option_order: Sequence[str]) -> tuple[tuple[str, str], ...]:
    values: list[tuple[str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        option = str(item.get("option") or "").strip()
        value = str(item.get("value") or "").strip()
        if not option or not value:
            continue
        for text in (option, value):
            if len(text) > MAX_OPTION_TEXT:
                raise MappingError(
                    "option_values",
                    f"Option text '{preview(text)}' is {len(text)} characters long; "
                    f"BigCommerce accepts at most {MAX_OPTION_TEXT}",
                    code="option_too_long",
                    value=text,
                )
        values.append((option, value))
    if not values:
        raise MappingError(
            "option_values",
            "The variant has no option values",
            code="variant_options_missing",
            value=raw,
        )
    rank = {name.casefold(): index for index, name in enumerate(option_order)}
    return tuple(sorted(values, key=lambda pair: rank.get(pair[0].casefold(), len(rank))))


def map_variant(
    raw: Mapping[str, Any], option_order: Sequence[str], store_unit: str
) -> MappedVariant:
    """Validate and map one Bindo variant; MappingError messages name the variant."""
    variant_id = raw.get("id")
    if not isinstance(variant_id, int) or isinstance(variant_id, bool):
        raise MappingError("variant", "A variant has no Bindo id", code="variant_id_missing")
    label = f"{variant_id}"
    try:
        option_values = _option_values(raw.get("option_values"), option_order)
        label = variant_label(option_values, _optional(raw.get("sku")))
        sku = _map_sku(raw.get("sku"))
        if sku is None:
            raise MappingError(
                "sku",
                "The variant has no SKU; BigCommerce needs one for every variant",
                code="variant_sku_missing",
            )
        own_price = raw.get("price")
        own_weight = attribute_value(raw.get("custom_attributes"), WEIGHT_ATTRIBUTE)
        return MappedVariant(
            bindo_variant_id=variant_id,
            option_values=option_values,
            sku=sku,
            upc=_map_upc(raw.get("upc"), "custom"),
            price=None if own_price is None else _map_price(own_price),
            weight=(
                None
                if own_weight is None
                else weight_from_attributes(raw.get("custom_attributes"), store_unit)
            ),
            removed=bool(raw.get("deleted")),
        )
    except MappingError as error:
        raise _variant_error(error, label, None) from None


def _optional(value: Any) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    return text or None


def map_variants(product: Mapping[str, Any], store_unit: str) -> tuple[MappedVariant, ...]:
    """Every variant of a Bindo product (removed ones included, flagged), validated together.

    Product-wide checks: at most 600 live variants, no SKU or option combination twice among
    the live ones. Errors carry the product id and name the variant.
    """
    product_id = product.get("id") if isinstance(product.get("id"), int) else None
    order = [str(o.get("name") or "") for o in product.get("options") or [] if isinstance(o, dict)]
    try:
        mapped = tuple(
            map_variant(raw, order, store_unit)
            for raw in product.get("variants") or []
            if isinstance(raw, Mapping)
        )
        live = [v for v in mapped if not v.removed]
        if len(live) > MAX_VARIANTS:
            raise MappingError(
                "variants",
                f"The product has {len(live)} variants; BigCommerce allows at most "
                f"{MAX_VARIANTS} per product",
                code="too_many_variants",
                value=len(live),
            )
        _no_repeats(live)
    except MappingError as error:
        error.product_id = product_id
        raise
    return mapped


def _no_repeats(live: Sequence[MappedVariant]) -> None:
    by_sku: dict[str, MappedVariant] = {}
    by_combination: dict[frozenset[tuple[str, str]], MappedVariant] = {}
    for variant in live:
        first = by_sku.setdefault(variant.sku.casefold(), variant)
        if first is not variant:
            raise MappingError(
                "sku",
                f"Variants {first.label} and {variant.label} have the same SKU; BigCommerce "
                "needs a different SKU for every variant",
                code="variant_sku_duplicate",
                value=variant.sku,
            )
        same = by_combination.setdefault(variant.combination, variant)
        if same is not variant:
            raise MappingError(
                "option_values",
                f"Variants {same.label} and {variant.label} have the same option values",
                code="variant_options_duplicate",
                value=variant.label,
            )


# -- payloads ---------------------------------------------------------------------------------


def _own_fields(variant: MappedVariant) -> dict[str, Any]:
    """Fields Bindo owns on a variant; price/weight null = the product's (BigCommerce rule)."""
    fields: dict[str, Any] = {
        "sku": variant.sku,
        "price": variant.price,
        "weight": variant.weight,
        "purchasing_disabled": False,
    }
    if variant.upc is not None:
        fields["upc"] = variant.upc
    return fields


def inline_variant(variant: MappedVariant) -> dict[str, Any]:
    """One item of the ``variants`` array of a product POST (options by name and label)."""
    item = {k: v for k, v in _own_fields(variant).items() if v is not None}
    item["option_values"] = [
        {"option_display_name": option, "label": value} for option, value in variant.option_values
    ]
    return item


def build_variant_create_payload(
    mapped: MappedProduct,
    variants: Sequence[MappedVariant],
    category_ids: Sequence[int],
    tracking: VariantTracking,
) -> dict[str, Any]:
    """POST /v3/catalog/products for a product with variants: the product payload (every
    product rule as for a product without variants), its live variants inline (BigCommerce
    creates the options from their values) and per-variant stock tracking."""
    payload = build_create_payload(mapped, category_ids)
    payload["inventory_tracking"] = tracking
    payload["variants"] = [inline_variant(v) for v in variants if not v.removed]
    return payload


def variant_update_item(variant: MappedVariant, bc_variant_id: int) -> dict[str, Any]:
    """One item of PUT /v3/catalog/variants for a linked variant: every field Bindo owns, so
    an edit in BigCommerce is overwritten; a removed one is made unpurchasable."""
    if variant.removed:
        return removed_variant_item(bc_variant_id)
    return {"id": bc_variant_id, **_own_fields(variant)}


def removed_variant_item(bc_variant_id: int) -> dict[str, Any]:
    """A variant gone from Bindo: unpurchasable in BigCommerce, never deleted (orders and
    reports keep pointing at it)."""
    return {
        "id": bc_variant_id,
        "purchasing_disabled": True,
        "purchasing_disabled_message": REMOVED_MESSAGE,
    }


def variant_create_item(
    variant: MappedVariant,
    bc_product_id: int,
    value_ids: Mapping[tuple[str, str], tuple[int, int]],
) -> dict[str, Any]:
    """PUT /v3/catalog/variants item creating a new variant on a linked product.

    ``value_ids`` maps (option, value) case-blind to (option_id, option_value_id); the caller
    creates missing option values first (missing_option_values).
    """
    option_values = []
    for option, value in variant.option_values:
        option_id, value_id = value_ids[(option.casefold(), value.casefold())]
        option_values.append({"id": value_id, "option_id": option_id})
    item = {k: v for k, v in _own_fields(variant).items() if v is not None}
    return {"product_id": bc_product_id, **item, "option_values": option_values}


ValueIds = dict[tuple[str, str], tuple[int, int]]


def option_value_ids(bc_options: Iterable[Mapping[str, Any]]) -> ValueIds:
    """(option display name, label), case-blind -> (option id, value id) of a BC product."""
    ids: dict[tuple[str, str], tuple[int, int]] = {}
    for option in bc_options:
        name = str(option.get("display_name") or "").casefold()
        for value in option.get("option_values") or []:
            ids[(name, str(value.get("label") or "").casefold())] = (option["id"], value["id"])
    return ids


def missing_option_values(
    variants: Iterable[MappedVariant], bc_options: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[int, str]], list[str]]:
    """What a linked product lacks for new variants: ([(option_id, label)] to create, [option
    names BigCommerce does not have at all]). A new option cannot be added to a product whose
    variants exist (they would lack a value): the caller reports those as an error."""
    options = {str(o.get("display_name") or "").casefold(): o for o in bc_options}
    known = option_value_ids(options.values())
    to_create: list[tuple[int, str]] = []
    unknown: list[str] = []
    for variant in variants:
        for option, value in variant.option_values:
            bc_option = options.get(option.casefold())
            if bc_option is None:
                if option not in unknown:
                    unknown.append(option)
                continue
            key = (option.casefold(), value.casefold())
            if key not in known and (bc_option["id"], value) not in to_create:
                to_create.append((bc_option["id"], value))
    return to_create, unknown


def variant_hash(item: Mapping[str, Any]) -> str:
    """sha256 of a variant payload without its id: equal hash, nothing to send."""
    body = {k: v for k, v in item.items() if k not in ("id", "product_id")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def variant_stock_levels(
    rows: Iterable[Mapping[str, Any]], location_ids: Iterable[int], safety_buffer: int
) -> dict[int, int]:
    """Bindo stock rows -> {bindo variant id: BigCommerce level}: the variant's quantities at
    the linked locations, summed, floored, less the buffer, 0 at the least (stock_level)."""
    wanted = set(location_ids)
    quantities: dict[int, list[Any]] = {}
    for row in rows:
        variant_id = row.get("variant_id")
        if variant_id is None:
            continue
        bucket = quantities.setdefault(variant_id, [])
        if row.get("location_id") in wanted:
            bucket.append(row.get("quantity"))
    return {vid: stock_level(qs, safety_buffer) for vid, qs in quantities.items()}


# -- matching on first link -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantMatch:
    """Outcome of matching a Bindo product's variants against BigCommerce variants."""

    bc_product_id: int | None  # the one BigCommerce product the matches belong to
    linked: dict[int, int]  # bindo variant id -> BigCommerce variant id
    new: tuple[MappedVariant, ...]  # live Bindo variants BigCommerce does not have yet


def match_variants(
    variants: Sequence[MappedVariant],
    bc_variants: Iterable[Mapping[str, Any]],
    bound_bc_products: Mapping[int, int] | None = None,
    product_id: int | None = None,
) -> VariantMatch:
    """Link variant by variant: a BigCommerce variant with the same SKU (case-blind), else the
    same UPC, is the same variant. All matches must sit on one BigCommerce product that no
    other Bindo product is bound to (``bound_bc_products``: BigCommerce id -> Bindo id), else
    a MappingError (code variant_clash) naming the conflicting variant."""
    by_sku: dict[str, Mapping[str, Any]] = {}
    by_upc: dict[str, Mapping[str, Any]] = {}
    for bc in bc_variants:
        if bc.get("sku"):
            by_sku.setdefault(str(bc["sku"]).casefold(), bc)
        if bc.get("upc"):
            by_upc.setdefault(str(bc["upc"]), bc)
    bound = bound_bc_products or {}
    linked: dict[int, int] = {}
    owner: tuple[int, MappedVariant] | None = None
    new: list[MappedVariant] = []
    for variant in variants:
        bc = by_sku.get(variant.sku.casefold())
        if bc is None and variant.upc:
            bc = by_upc.get(variant.upc)
        if bc is None:
            if not variant.removed:
                new.append(variant)
            continue
        bc_product = int(bc["product_id"])
        if bound.get(bc_product) not in (None, product_id):
            raise MappingError(
                "sku",
                f"Variant {variant.label} matches BigCommerce product {bc_product}, which is "
                f"already linked to Bindo product {bound[bc_product]}",
                code="variant_clash",
                value=variant.sku,
                product_id=product_id,
            )
        if owner is not None and owner[0] != bc_product:
            raise MappingError(
                "sku",
                f"Variant {variant.label} matches BigCommerce product {bc_product}, but "
                f"variant {owner[1].label} matches BigCommerce product {owner[0]}: link the "
                "product by hand or correct the SKUs in Bindo",
                code="variant_clash",
                value=variant.sku,
                product_id=product_id,
            )
        owner = (bc_product, variant)
        linked[variant.bindo_variant_id] = int(bc["id"])
    return VariantMatch(owner[0] if owner else None, linked, tuple(new))


# -- orders -----------------------------------------------------------------------------------

VariantRef = tuple[int, int]  # (Bindo product id, Bindo variant id)


def _chosen_options(line: Mapping[str, Any]) -> str:
    """'Size: M, Colour: Red' from an order line's product_options."""
    pairs = [
        (str(o.get("display_name") or "").strip(), str(o.get("display_value") or "").strip())
        for o in line.get("product_options") or ()
        if isinstance(o, Mapping)
    ]
    return ", ".join(f"{name}: {value}" for name, value in pairs if name and value)


def apply_variant_lines(
    mapped: MappedOrder,
    lines: Iterable[Mapping[str, Any]],
    *,
    by_variant: Mapping[int, VariantRef],
    by_sku: Mapping[str, VariantRef],
    variant_products: Iterable[int],
) -> MappedOrder:
    """Put order lines for variants on the right Bindo variant.

    A line is matched by its ``variant_id`` (BigCommerce variant id -> Bindo product and
    variant), then by its SKU (casefolded). Its name gets the chosen options
    ("Tee (Size: M, Colour: Red)"). A line for a Bindo product that has variants but whose
    variant is unknown cannot lower any stock: it becomes a custom line (no product, flagged),
    so the sale total stays right and staff see it.
    """
    with_variants = set(variant_products)
    by_line = {str(line.get("id")): line for line in lines}
    items: list[dict[str, Any]] = []
    unknown = list(mapped.unknown_lines)
    for item in mapped.body.get("line_items") or ():
        item = dict(item)
        line = by_line.get(str(item.get("external_line_id"))) or {}
        chosen = _chosen_options(line)
        if chosen:
            item["name"] = f"{item.get('name') or ''} ({chosen})".strip()
        ref = by_variant.get(line.get("variant_id")) if line.get("variant_id") else None
        sku = str(line.get("sku") or "").strip().casefold()
        if ref is None and sku:
            ref = by_sku.get(sku)
        if ref is not None:
            item["product_id"], item["variant_id"] = ref
        elif item.get("product_id") in with_variants:
            item["product_id"] = None
            unknown.append(
                UnknownLine(
                    int(line.get("id") or 0),
                    line.get("product_id") or None,
                    str(item.get("name") or ""),
                    str(line.get("sku") or ""),
                )
            )
        items.append(item)
    return MappedOrder({**mapped.body, "line_items": items}, tuple(unknown))
