"""Catalog v3 variants and variant options (call with ``state.lock`` held).

A product created with ``variants`` gets its options from the variants' ``option_values``
(``{option_display_name, label}``), as ``POST /v3/catalog/products`` documents. Variant SKUs
share the case-insensitive SKU space of products (409). Limits from the specs: 600 SKUs
per product (more -> 422 here: what BigCommerce answers beyond it is UNCONFIRMED), 50
variants per batch PUT (413), SKU <= 255 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ApiError, batch_too_large
from .state import DEFAULT_LOCATION_ID, BCSimState, Store

MAX_VARIANTS_PER_PRODUCT = 600
MAX_BATCH = 50
MAX_INT = 2_147_483_647
# Writable variant fields and their checks (None allowed where the spec says nullable).
NULLABLE_NUMBERS = (
    "price", "sale_price", "retail_price", "map_price", "cost_price", "weight", "width",
    "height", "depth", "fixed_cost_shipping_price",
)  # fmt: skip
STRINGS = {"sku": 255, "upc": 14, "mpn": 255, "gtin": 14, "purchasing_disabled_message": 255}
BOOLS = ("purchasing_disabled", "is_free_shipping")


def _ints(raw: str) -> set[int]:
    return {int(v) for v in raw.split(",") if v.strip().isdigit()}


def validate_fields(body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    errors: dict[str, str] = {}
    for name in NULLABLE_NUMBERS:
        value = body.get(name)
        if value is None:
            continue  # absent, or null: the product's value applies
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            errors[prefix + name] = "must be a number >= 0 or null"
    for name, longest in STRINGS.items():
        if name in body and (not isinstance(body[name], str) or len(body[name]) > longest):
            errors[prefix + name] = f"must be a string of at most {longest} characters"
    for name in BOOLS:
        if name in body and not isinstance(body[name], bool):
            errors[prefix + name] = "must be a boolean"
    if "inventory_level" in body:
        level = body["inventory_level"]
        if not isinstance(level, int) or isinstance(level, bool) or level < 0:
            errors[prefix + "inventory_level"] = "must be an integer >= 0"
    return errors


def sku_taken(store: Store, sku: str, own_variant: int | None = None) -> bool:
    """Products and variants share one case-insensitive SKU space."""
    wanted = sku.lower()
    if any(p["sku"] and p["sku"].lower() == wanted for p in store.products.values()):
        return True
    return any(
        v["sku"].lower() == wanted and v["id"] != own_variant for v in store.variants.values()
    )


# -- create with the product ------------------------------------------------------------------


def validate_inline(body: dict[str, Any]) -> dict[str, str]:
    """422 errors of the ``variants`` array of a product POST."""
    variants = body.get("variants")
    if variants is None:
        return {}
    if not isinstance(variants, list):
        return {"variants": "must be an array"}
    if len(variants) > MAX_VARIANTS_PER_PRODUCT:
        return {"variants": f"a product has at most {MAX_VARIANTS_PER_PRODUCT} SKUs"}
    errors: dict[str, str] = {}
    shapes: set[tuple[str, ...]] = set()
    combos: set[tuple[tuple[str, str], ...]] = set()
    skus: set[str] = set()
    for index, variant in enumerate(variants):
        prefix = f"variants.{index}."
        if not isinstance(variant, dict):
            errors[prefix[:-1]] = "must be an object"
            continue
        errors.update(validate_fields(variant, prefix))
        sku = variant.get("sku")
        if not isinstance(sku, str) or not sku:
            errors[prefix + "sku"] = "error.path.missing"
        elif sku.lower() in skus:
            errors[prefix + "sku"] = f"Sku '{sku}' is used by another variant of this product"
        else:
            skus.add(sku.lower())
        values = variant.get("option_values")
        if (
            not isinstance(values, list)
            or not values
            or not all(
                isinstance(v, dict)
                and isinstance(v.get("option_display_name"), str)
                and isinstance(v.get("label"), str)
                and 1 <= len(v["option_display_name"]) <= 255
                and 1 <= len(v["label"]) <= 255
                for v in values
            )
        ):
            errors[prefix + "option_values"] = "needs [{option_display_name, label}]"
            continue
        shapes.add(tuple(sorted(v["option_display_name"] for v in values)))
        combo = tuple(sorted((v["option_display_name"], v["label"]) for v in values))
        if combo in combos:
            errors[prefix + "option_values"] = "another variant has these option values"
        combos.add(combo)
    if len(shapes) > 1:
        errors["variants"] = "every variant needs a value of the same options"
    return errors


def inline_conflicts(store: Store, body: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for index, variant in enumerate(body.get("variants") or []):
        if sku_taken(store, variant["sku"]):
            errors[f"variants.{index}.sku"] = f"Sku '{variant['sku']}' is not unique"
    return errors


def create_inline(state: BCSimState, store: Store, product: dict[str, Any], body: dict) -> None:
    """Options from the variants' values (in first-seen order), then the variants."""
    variants = body.get("variants") or []
    if not variants:
        return
    options: dict[str, dict[str, Any]] = {}
    for variant in variants:
        for value in variant["option_values"]:
            option = options.get(value["option_display_name"])
            if option is None:
                option = new_option(state, product["id"], value["option_display_name"])
                options[option["display_name"]] = option
            if not any(v["label"] == value["label"] for v in option["option_values"]):
                add_value(state, option, value["label"])
    store.options[product["id"]] = list(options.values())
    product["base_variant_id"] = None  # products with options have no base variant
    for variant in variants:
        chosen = [
            value_ref(options[v["option_display_name"]], v["label"])
            for v in variant["option_values"]
        ]
        save_new(state, store, product, variant, chosen)


def new_option(state: BCSimState, product_id: int, name: str) -> dict[str, Any]:
    return {
        "id": state.next_id(),
        "product_id": product_id,
        "display_name": name,
        "name": f"{name}{product_id}",
        "type": "rectangles",
        "sort_order": 0,
        "config": {},
        "option_values": [],
    }


def add_value(state: BCSimState, option: dict[str, Any], label: str) -> dict[str, Any]:
    value = {
        "id": state.next_id(),
        "label": label,
        "sort_order": len(option["option_values"]),
        "is_default": False,
        "value_data": {},
    }
    option["option_values"].append(value)
    return value


def value_ref(option: dict[str, Any], label: str) -> dict[str, Any]:
    value = next(v for v in option["option_values"] if v["label"] == label)
    return {
        "id": value["id"],
        "label": label,
        "option_id": option["id"],
        "option_display_name": option["display_name"],
    }


def save_new(
    state: BCSimState,
    store: Store,
    product: dict[str, Any],
    body: dict[str, Any],
    option_values: list[dict[str, Any]],
) -> dict[str, Any]:
    variant_id = state.next_id()
    variant: dict[str, Any] = {
        "id": variant_id, "product_id": product["id"], "sku": body["sku"], "sku_id": variant_id,
        "price": None, "calculated_price": product["price"], "sale_price": None,
        "retail_price": None, "map_price": None, "weight": None,
        "calculated_weight": product["weight"], "width": None, "height": None, "depth": None,
        "is_free_shipping": False, "fixed_cost_shipping_price": None,
        "purchasing_disabled": False, "purchasing_disabled_message": "", "image_url": "",
        "cost_price": None, "upc": "", "mpn": "", "gtin": "", "inventory_level": 0,
        "inventory_warning_level": 0, "bin_picking_number": "", "option_values": option_values,
    }  # fmt: skip
    apply(product, variant, body)
    store.variants[variant_id] = variant
    store.variant_stock[(variant_id, DEFAULT_LOCATION_ID)] = variant["inventory_level"]
    return variant


def apply(product: dict[str, Any], variant: dict[str, Any], body: dict[str, Any]) -> set[str]:
    changed: set[str] = set()
    for name in (*NULLABLE_NUMBERS, *STRINGS, *BOOLS, "inventory_level"):
        if name in body and variant.get(name) != body[name]:
            variant[name] = body[name]
            changed.add(name)
    variant["inventory_level"] = min(variant["inventory_level"], MAX_INT)
    refresh(product, variant)
    return changed


def refresh(product: dict[str, Any], variant: dict[str, Any]) -> None:
    """calculated_* follow the variant's own value, else the product's."""
    own_price = variant["sale_price"] or variant["price"]
    variant["calculated_price"] = own_price if own_price is not None else product["price"]
    weight = variant["weight"]
    variant["calculated_weight"] = weight if weight is not None else product["weight"]


# -- reads ------------------------------------------------------------------------------------


def product_variants(store: Store, product_id: int) -> list[dict[str, Any]]:
    return sorted(
        (v for v in store.variants.values() if v["product_id"] == product_id),
        key=lambda v: v["id"],
    )


def product_options(store: Store, product_id: int) -> list[dict[str, Any]]:
    return store.options.get(product_id, [])


def matches(variant: dict[str, Any], args: dict[str, str]) -> bool:
    """GET /v3/catalog/variants filters. The spec lists ``sku``, ``upc``, ``id`` and
    ``product_id:in``; ``sku:in``/``upc:in``/``id:in`` are accepted too (the issue relies on
    ``sku:in``; that BigCommerce honours it on this endpoint is UNCONFIRMED)."""

    def csv(name: str) -> set[str]:
        return {v.strip().lower() for v in args[name].split(",") if v.strip()}

    tests: list[tuple[str, Callable[[], bool]]] = [
        ("id", lambda: str(variant["id"]) == args["id"]),
        ("id:in", lambda: variant["id"] in _ints(args["id:in"])),
        ("sku", lambda: variant["sku"].lower() == args["sku"].lower()),
        ("sku:in", lambda: variant["sku"].lower() in csv("sku:in")),
        ("upc", lambda: variant["upc"] == args["upc"]),
        ("upc:in", lambda: variant["upc"].lower() in csv("upc:in")),
        ("product_id:in", lambda: variant["product_id"] in _ints(args["product_id:in"])),
    ]
    return all(test() for name, test in tests if name in args)


# -- writes -----------------------------------------------------------------------------------


def _resolve_values(store: Store, product_id: int, raw: Any) -> list[dict[str, Any]] | str:
    """``[{id, option_id}]`` of existing option values -> refs, or an error message."""
    options = {o["id"]: o for o in product_options(store, product_id)}
    if not options:
        return "the product has no options"
    if not isinstance(raw, list) or not raw:
        return "error.path.missing"
    refs = []
    for item in raw:
        option = options.get(item.get("option_id")) if isinstance(item, dict) else None
        value = None
        if option is not None:
            value = next((v for v in option["option_values"] if v["id"] == item.get("id")), None)
        if value is None:
            return f"option value {item!r} does not exist on product {product_id}"
        refs.append(value_ref(option, value["label"]))
    if {r["option_id"] for r in refs} != set(options) or len(refs) != len(options):
        return "a variant needs one value of every option"
    combo = {r["id"] for r in refs}
    for other in product_variants(store, product_id):
        if {r["id"] for r in other["option_values"]} == combo:
            return f"variant {other['id']} has these option values"
    return refs


def create_one(
    state: BCSimState, store: Store, product_id: int, body: Any, prefix: str = ""
) -> dict[str, Any]:
    """POST /catalog/products/{id}/variants (and the create form of the batch PUT)."""
    product = store.products.get(product_id)
    if product is None:
        raise ApiError(404, f"Product with id {product_id} not found")
    if not isinstance(body, dict):
        raise ApiError(422, "JSON data is missing or invalid", {prefix + "body": "object"})
    errors = validate_fields(body, prefix)
    if not isinstance(body.get("sku"), str) or not body["sku"]:
        errors[prefix + "sku"] = "error.path.missing"
    refs = _resolve_values(store, product_id, body.get("option_values"))
    if isinstance(refs, str):
        errors[prefix + "option_values"] = refs
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    if len(product_variants(store, product_id)) >= MAX_VARIANTS_PER_PRODUCT:
        raise ApiError(422, f"A product has at most {MAX_VARIANTS_PER_PRODUCT} SKUs")
    if sku_taken(store, body["sku"]):
        raise ApiError(409, f"Sku '{body['sku']}' is not unique", {prefix + "sku": "duplicate"})
    assert isinstance(refs, list)
    variant = save_new(state, store, product, body, refs)
    state.emit(store, "store/product/updated", {"type": "product", "id": product_id})
    return variant


def update_one(
    state: BCSimState,
    store: Store,
    variant: dict[str, Any],
    body: dict[str, Any],
    emit: bool = True,
) -> bool:
    """Apply an update; True when a field other than the level changed. ``emit`` fires
    store/product/updated for it (a batch fires once per product instead)."""
    product = store.products[variant["product_id"]]
    before = variant["inventory_level"]
    changed = apply(product, variant, body)
    if "inventory_level" in changed:
        set_level(state, store, variant, DEFAULT_LOCATION_ID, variant["inventory_level"], before)
    if emit and changed - {"inventory_level"}:
        state.emit(store, "store/product/updated", {"type": "product", "id": product["id"]})
    return bool(changed - {"inventory_level"})


def batch_update(state: BCSimState, store: Store, items: Any) -> list[dict[str, Any]]:
    """PUT /catalog/variants: <= 50 items, each ``{id, ...}`` (update) or
    ``{product_id, sku, option_values:[{id, option_id}]}`` (create). All-or-nothing, like the
    products batch here (whether BigCommerce applies part of a batch is UNCONFIRMED)."""
    if not isinstance(items, list):
        raise ApiError(422, "JSON data is missing or invalid", {"body": "must be an array"})
    if len(items) > MAX_BATCH:
        raise batch_too_large(MAX_BATCH)
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        prefix = f"{index}."
        if not isinstance(item, dict):
            errors[f"{index}"] = "must be an object"
            continue
        errors.update(validate_fields(item, prefix))
        if "id" in item:
            variant = store.variants.get(item["id"])
            if variant is None:
                errors[prefix + "id"] = f"Variant {item['id']} not found"
                continue
            own = variant["id"]
        elif "product_id" not in item:
            errors[prefix + "id"] = "error.path.missing"
            continue
        else:
            own = None
        sku = item.get("sku")
        if isinstance(sku, str) and sku:
            if sku_taken(store, sku, own):
                errors[prefix + "sku"] = f"Sku '{sku}' is not unique"
            elif seen.setdefault(sku.lower(), index) != index:
                errors[prefix + "sku"] = f"duplicates item {seen[sku.lower()]} in this batch"
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    saved = []
    touched: list[int] = []  # one store/product/updated per product, not per variant
    for index, item in enumerate(items):
        if "id" in item:
            variant = store.variants[item["id"]]
            if update_one(state, store, variant, item, emit=False):
                touched.append(variant["product_id"])
            saved.append(variant)
        else:
            saved.append(create_one(state, store, item["product_id"], item, f"{index}."))
    for product_id in dict.fromkeys(touched):
        state.emit(store, "store/product/updated", {"type": "product", "id": product_id})
    return saved


def create_option(state: BCSimState, store: Store, product_id: int, body: Any) -> dict:
    """POST /catalog/products/{id}/options: a variant option with its values. Refused (422)
    once the product has variants: they would lack a value of the new option (the harsh
    reading; BigCommerce does not say what it does then)."""
    if not isinstance(body, dict) or not isinstance(body.get("display_name"), str):
        raise ApiError(422, "JSON data is missing or invalid", {"display_name": "missing"})
    values = body.get("option_values")
    if not isinstance(values, list) or not values:
        raise ApiError(422, "JSON data is missing or invalid", {"option_values": "missing"})
    if product_variants(store, product_id):
        raise ApiError(422, "The product has variants: a new option would leave them incomplete")
    options = store.options.setdefault(product_id, [])
    if any(o["display_name"].lower() == body["display_name"].lower() for o in options):
        raise ApiError(409, f"The option '{body['display_name']}' already exists")
    option = new_option(state, product_id, body["display_name"])
    for value in values:
        label = value.get("label") if isinstance(value, dict) else None
        if not isinstance(label, str) or not label:
            raise ApiError(422, "JSON data is missing or invalid", {"option_values": "label"})
        add_value(state, option, label)
    options.append(option)
    store.products[product_id]["base_variant_id"] = None
    return option


def add_option_value(
    state: BCSimState, store: Store, product_id: int, option_id: int, body: Any
) -> dict[str, Any]:
    option = next((o for o in product_options(store, product_id) if o["id"] == option_id), None)
    if option is None:
        raise ApiError(404, f"Option {option_id} of product {product_id} not found")
    label = body.get("label") if isinstance(body, dict) else None
    if not isinstance(label, str) or not 1 <= len(label) <= 255:
        raise ApiError(422, "JSON data is missing or invalid", {"label": "error.path.missing"})
    if any(v["label"].lower() == label.lower() for v in option["option_values"]):
        raise ApiError(409, f"The option value '{label}' already exists", {"label": "duplicate"})
    value = add_value(state, option, label)
    if isinstance(body.get("sort_order"), int):
        value["sort_order"] = body["sort_order"]
    return value


# -- stock ------------------------------------------------------------------------------------


def set_level(
    state: BCSimState,
    store: Store,
    variant: dict[str, Any],
    location_id: int,
    quantity: int,
    before: int | None = None,
    method: str = "absolute",
) -> None:
    """A variant's on-hand at a location; the default location drives inventory_level and the
    ``store/sku/inventory/updated`` webhook (variant-tracked products)."""
    key = (variant["id"], location_id)
    previous = store.variant_stock.get(key, 0) if before is None else before
    store.variant_stock[key] = quantity
    if location_id != DEFAULT_LOCATION_ID:
        return
    variant["inventory_level"] = quantity
    inventory = {
        "product_id": variant["product_id"],
        "variant_id": variant["id"],
        "method": method,
        "value": quantity - previous,
    }
    scope = "store/sku/inventory/" + ("updated" if method == "absolute" else "order/updated")
    state.emit(store, scope, {"type": "sku", "id": variant["sku_id"], "inventory": inventory})


def delete_product(store: Store, product_id: int) -> None:
    store.options.pop(product_id, None)
    for variant in product_variants(store, product_id):
        del store.variants[variant["id"]]
        for key in [k for k in store.variant_stock if k[0] == variant["id"]]:
            del store.variant_stock[key]
