"""Inventory v3: absolute adjustments (optionally applied late) and item/location reads."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from . import variants
from .catalog import MAX_INT
from .errors import ApiError
from .state import DEFAULT_LOCATION_ID, BCSimState, Store, iso_now

MAX_ITEMS = 2000


Target = tuple[str, int]  # ("product", product_id) or ("variant", variant_id)


def _resolve(store: Store, item: Any) -> tuple[Target | None, str | None]:
    """Map one adjustment item to what it sets, or explain why it cannot be applied.

    Products without variants (and products with variants tracked by product) take
    ``product_id``; variants of variant-tracked products take ``variant_id`` or ``sku``.
    """
    if not isinstance(item, dict):
        return None, "must be an object"
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_INT:
        return None, f"quantity must be an integer between 0 and {MAX_INT}"
    if item.get("location_id") not in store.locations:
        return None, f"Location {item.get('location_id')} does not exist"
    if "product_id" in item:
        product = store.products.get(item["product_id"])
        if product is None:
            return None, f"Product {item['product_id']} does not exist"
        if product["inventory_tracking"] == "variant":  # the mirror of the documented case
            return None, (
                f"Item with product_id {product['id']} is tracked by variant, "
                "please update stock by variant id or sku"
            )
        return ("product", product["id"]), None
    if "variant_id" in item:
        variant = store.variants.get(item["variant_id"])
        if variant is not None:
            return _variant_target(store, variant, f"variant_id {variant['id']}")
        for product in store.products.values():
            if product["base_variant_id"] == item["variant_id"]:
                return None, (
                    f"Item with variant_id {item['variant_id']} is tracked by product, "
                    "please update stock by product id"
                )
        return None, f"Variant {item['variant_id']} does not exist"
    if "sku" in item:
        wanted = str(item["sku"]).lower()
        for product in store.products.values():
            if product["sku"] and product["sku"].lower() == wanted:
                return ("product", product["id"]), None
        for variant in store.variants.values():
            if variant["sku"].lower() == wanted:
                return _variant_target(store, variant, f"sku {variant['sku']}")
        return None, f"SKU {item['sku']} does not exist"
    return None, "one of product_id, variant_id or sku is required"


def _variant_target(store: Store, variant: dict[str, Any], label: str):
    if store.products[variant["product_id"]]["inventory_tracking"] != "variant":
        return None, f"Item with {label} is tracked by product, please update stock by product id"
    return ("variant", variant["id"]), None


def absolute_adjustment(state: BCSimState, store: Store, body: Any) -> str:
    """Validate all items (all-or-nothing), then set levels now or after the configured delay."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(422, "JSON data is missing or invalid", {"items": "error.path.missing"})
    if len(items) > MAX_ITEMS:
        raise ApiError(422, f"The maximum number of items is {MAX_ITEMS}", {"items": "too many"})
    resolved: list[tuple[Target, int, int]] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(items):
        target, problem = _resolve(store, item)
        if problem or target is None:
            errors[f"items.{index}"] = problem or "unresolved"
        else:
            resolved.append((target, item["location_id"], item["quantity"]))
    if errors:
        raise ApiError(422, "Inventory adjustment failed", errors)
    delay = state.config.inventory_apply_delay
    if delay > 0:
        timer = threading.Timer(delay, _apply_later, (state, store, resolved))
        timer.daemon = True
        timer.start()
    else:
        apply_levels(state, store, resolved)
    return str(uuid.uuid4())


def _apply_later(state: BCSimState, store: Store, resolved: list[tuple[Target, int, int]]) -> None:
    with state.lock:
        apply_levels(state, store, resolved)


def apply_levels(state: BCSimState, store: Store, resolved: list[tuple[Target, int, int]]) -> None:
    """Write levels; the default location also drives the product's inventory_level."""
    for (kind, target_id), location_id, quantity in resolved:
        if kind == "variant":
            variant = store.variants.get(target_id)
            if variant is not None:  # else deleted while a delayed write waited
                variants.set_level(state, store, variant, location_id, quantity)
            continue
        product_id = target_id
        product = store.products.get(product_id)
        if product is None:  # deleted while a delayed write waited
            continue
        before = store.stock.get((product_id, location_id), 0)
        store.stock[(product_id, location_id)] = quantity
        if location_id != DEFAULT_LOCATION_ID:
            continue
        product["inventory_level"] = quantity
        inventory = {"product_id": product_id, "method": "absolute", "value": quantity - before}
        data = {"type": "product", "id": product_id, "inventory": inventory}
        state.emit(store, "store/product/inventory/updated", data)
        # Real BigCommerce also fires store/product/updated for a tracked product's level
        # change, whoever wrote it (our own pushes included: echoes).
        if (
            state.config.product_updated_on_inventory_writes
            and product["inventory_tracking"] != "none"
            and quantity != before
        ):
            state.emit(store, "store/product/updated", {"type": "product", "id": product_id})


def inventory_items(store: Store, args: dict[str, str]) -> list[dict[str, Any]]:
    """GET /v3/inventory/items: one entry per product with its per-location levels."""

    def csv_ints(name: str) -> set[int] | None:
        if name not in args:
            return None
        return {int(v) for v in args[name].split(",") if v.strip().isdigit()}

    product_ids = csv_ints("product_id:in")
    location_ids = csv_ints("location_id:in")
    skus = {s.lower() for s in args["sku:in"].split(",")} if "sku:in" in args else None
    variant_ids = csv_ints("variant_id:in")
    items = []
    for product in sorted(store.products.values(), key=lambda p: p["id"]):
        if product_ids is not None and product["id"] not in product_ids:
            continue
        own = variants.product_variants(store, product["id"])
        # One item per variant for products with variants, else one for the product.
        entries = [(v["sku"], v["id"], v, store.variant_stock) for v in own] or [
            (product["sku"], product["base_variant_id"], product, store.stock)
        ]
        for sku, variant_id, holder, levels in entries:
            if skus is not None and sku.lower() not in skus:
                continue
            if variant_ids is not None and variant_id not in variant_ids:
                continue
            locations = [
                _location_level(levels.get((holder["id"], location["id"]), 0), holder, location)
                for location in store.locations.values()
                if location_ids is None or location["id"] in location_ids
            ]
            identity = {
                "sku": sku,
                "variant_id": variant_id,
                "product_id": product["id"],
                "sku_id": variant_id,
            }
            items.append({"identity": identity, "locations": locations})
    return items


def _location_level(onhand: int, product: dict[str, Any], location: dict[str, Any]):
    return {
        "location_id": location["id"],
        "location_code": location["code"],
        "location_name": location["label"],
        "available_to_sell": onhand,
        "total_inventory_onhand": onhand,
        "location_enabled": location["enabled"],
        "settings": {
            "safety_stock": 0,
            "is_in_stock": True,
            "warning_level": product["inventory_warning_level"],
            "bin_picking_number": product["bin_picking_number"],
        },
    }


# -- locations ---------------------------------------------------------------------------------

MAX_ACTIVE_LOCATIONS = 100
ADDRESS_REQUIRED = ("address1", "city", "state", "zip", "email", "geo_coordinates", "country_code")
LOCATION_TYPES = ("PHYSICAL", "VIRTUAL")


def _location_problems(item: Any, codes: set[str]) -> dict[str, str]:
    if not isinstance(item, dict):
        return {"": "must be an object"}
    problems: dict[str, str] = {}
    code, label = item.get("code"), item.get("label")
    if not isinstance(code, str) or not code.strip():
        problems["code"] = "error.path.missing"
    elif code.strip().lower() in codes:
        problems["code"] = f"Location with code {code} already exists"
    if not isinstance(label, str) or not label.strip():
        problems["label"] = "error.path.missing"
    type_id = item.get("type_id", "PHYSICAL")
    if type_id not in LOCATION_TYPES:
        problems["type_id"] = f"must be one of {', '.join(LOCATION_TYPES)}"
    elif type_id == "PHYSICAL":
        address = item.get("address")
        if not isinstance(address, dict):
            problems["address"] = "Address is required for a PHYSICAL location"
        else:
            for key in ADDRESS_REQUIRED:
                if address.get(key) in (None, ""):
                    problems[f"address.{key}"] = "error.path.missing"
    for key in ("enabled", "managed_by_external_source", "storefront_visibility"):
        if key in item and not isinstance(item[key], bool):
            problems[key] = "must be a boolean"
    return problems


def create_locations(store: Store, body: Any) -> str:
    """POST /v3/inventory/locations: all or nothing; 200 with a transaction id, no new ids
    (as the real API: a client lists the locations again to learn them)."""
    if not isinstance(body, list) or not body:
        raise ApiError(422, "JSON data is missing or invalid", {"": "an array of locations"})
    codes = {str(loc["code"]).lower() for loc in store.locations.values()}
    errors: dict[str, str] = {}
    for index, item in enumerate(body):
        for key, problem in _location_problems(item, codes).items():
            errors[f"{index}.{key}".rstrip(".")] = problem
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            codes.add(item["code"].strip().lower())
    active = sum(1 for loc in store.locations.values() if loc["enabled"])
    added = sum(1 for item in body if isinstance(item, dict) and item.get("enabled", True))
    if not errors and active + added > MAX_ACTIVE_LOCATIONS:
        errors["enabled"] = f"A store can have at most {MAX_ACTIVE_LOCATIONS} active locations"
    if errors:
        raise ApiError(422, "Locations were not valid", errors)
    stamp = iso_now()
    for item in body:
        location_id = max(store.locations, default=0) + 1
        store.locations[location_id] = {
            "id": location_id,
            "code": item["code"].strip(),
            "label": item["label"].strip(),
            "description": str(item.get("description") or ""),
            "managed_by_external_source": item.get("managed_by_external_source", False),
            "type_id": item.get("type_id", "PHYSICAL"),
            "enabled": item.get("enabled", True),
            "storefront_visibility": item.get("storefront_visibility", True),
            "time_zone": str(item.get("time_zone") or "Etc/UTC"),
            "address": item.get("address"),
            "created_at": stamp,
            "updated_at": stamp,
            "special_hours": list(item.get("special_hours") or []),
        }
    return str(uuid.uuid4())
