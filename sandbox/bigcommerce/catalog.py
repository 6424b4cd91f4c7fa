"""Catalog v3 rules: products, product images and categories (call with ``state.lock`` held,
except the ``prepare_*`` steps, which download images and must run without it)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import variants
from .errors import ApiError
from .images import ImageDownloadError, download
from .state import DEFAULT_LOCATION_ID, BCSimState, Store, iso_now

MAX_INT = 2_147_483_647
MAX_DIMENSION = 9_999_999_999
REQUIRED_ON_CREATE = ("name", "type", "weight", "price")
# Changes to these fire store/product/updated (the fields BigCommerce lists for that event).
WATCHED_FIELDS = frozenset(
    {
        "name", "type", "sku", "upc", "gtin", "mpn", "price", "cost_price", "retail_price",
        "sale_price", "map_price", "weight", "width", "depth", "height", "description",
        "categories", "is_visible", "availability", "inventory_tracking", "inventory_level",
        "inventory_warning_level", "page_title", "meta_description", "search_keywords",
        "meta_keywords", "custom_url", "brand_id", "is_featured",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """How one writable product field is validated."""

    kind: str  # str | num | int | bool | enum | int_list | str_list | url
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


PRODUCT_RULES: dict[str, Rule] = {
    "name": Rule("str", 1, 250),
    "type": Rule("enum", choices=("physical", "digital")),
    "sku": Rule("str", 0, 255),
    "upc": Rule("str", 0, 14),
    "gtin": Rule("str", 0, 14),
    "mpn": Rule("str", 0, 255),
    "description": Rule("str", 0, None),
    "price": Rule("num", 0, None),
    "cost_price": Rule("num", 0, None),
    "retail_price": Rule("num", 0, None),
    "sale_price": Rule("num", 0, None),
    "map_price": Rule("num", 0, None),
    "weight": Rule("num", 0, MAX_DIMENSION),
    "width": Rule("num", 0, MAX_DIMENSION),
    "depth": Rule("num", 0, MAX_DIMENSION),
    "height": Rule("num", 0, MAX_DIMENSION),
    "categories": Rule("int_list", 0, 1000),
    "brand_id": Rule("int", 0, MAX_INT),
    "inventory_tracking": Rule("enum", choices=("none", "product", "variant")),
    # Above-max levels are clamped by the Catalog API (CONTRACT §3.2), so no upper bound here.
    "inventory_level": Rule("int", 0, None),
    "inventory_warning_level": Rule("int", 0, MAX_INT),
    "is_visible": Rule("bool"),
    "is_featured": Rule("bool"),
    "is_free_shipping": Rule("bool"),
    "availability": Rule("enum", choices=("available", "disabled", "preorder")),
    "page_title": Rule("str", 0, 255),
    "meta_description": Rule("str", 0, None),
    "search_keywords": Rule("str", 0, None),
    "meta_keywords": Rule("str_list"),
    "sort_order": Rule("int", -MAX_INT, MAX_INT),
}


def _check(rule: Rule, value: Any) -> str | None:
    """Return an error message for ``value`` under ``rule``, or None when valid."""
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    checks: dict[str, Callable[[], str | None]] = {
        "str": lambda: _check_str(rule, value),
        "num": lambda: _check_range(rule, value) if is_num else "must be a number",
        "int": lambda: (
            _check_range(rule, value)
            if isinstance(value, int) and not isinstance(value, bool)
            else "must be an integer"
        ),
        "bool": lambda: None if isinstance(value, bool) else "must be a boolean",
        "enum": lambda: None if value in rule.choices else f"must be one of {list(rule.choices)}",
        "int_list": lambda: _check_int_list(rule, value),
        "str_list": lambda: (
            None
            if isinstance(value, list) and all(isinstance(v, str) for v in value)
            else "must be an array of strings"
        ),
    }
    return checks[rule.kind]()


def _check_str(rule: Rule, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if rule.low is not None and len(value) < rule.low:
        return f"must be at least {int(rule.low)} characters"
    if rule.high is not None and len(value) > rule.high:
        return f"must be at most {int(rule.high)} characters"
    return None


def _check_range(rule: Rule, value: float) -> str | None:
    if rule.low is not None and value < rule.low:
        return f"must be greater than or equal to {rule.low:g}"
    if rule.high is not None and value > rule.high:
        return f"must be less than or equal to {rule.high:g}"
    return None


def _check_int_list(rule: Rule, value: Any) -> str | None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return "must be an array of integers"
    if rule.high is not None and len(value) > rule.high:
        return f"must have at most {int(rule.high)} items"
    return None


def validate_product(body: Any, creating: bool) -> dict[str, str]:
    """Field-level 422 errors of a product write (empty when valid)."""
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors: dict[str, str] = {}
    if creating:
        for name in REQUIRED_ON_CREATE:
            if name not in body:
                errors[name] = "error.path.missing"
    for name, rule in PRODUCT_RULES.items():
        if name in body and name not in errors:
            message = _check(rule, body[name])
            if message:
                errors[name] = message
    errors.update(_validate_custom_url(body.get("custom_url")))
    if creating:
        errors.update(variants.validate_inline(body))
    if "images" in body:
        if not creating:
            pass  # image semantics inside product PUT are UNCONFIRMED: ignored here
        else:
            errors.update(_validate_inline_images(body["images"]))
    return errors


def _validate_custom_url(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("url", ""), str):
        return {"custom_url": "must be an object with a url string"}
    if len(value.get("url", "")) > 255:
        return {"custom_url.url": "must be at most 255 characters"}
    return {}


def _validate_inline_images(images: Any) -> dict[str, str]:
    if not isinstance(images, list):
        return {"images": "must be an array"}
    errors: dict[str, str] = {}
    for index, image in enumerate(images):
        message = validate_image_fields(image, creating=True)
        for field_name, text in message.items():
            errors[f"images.{index}.{field_name}"] = text
    return errors


def validate_image_fields(body: Any, creating: bool) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors: dict[str, str] = {}
    url = body.get("image_url")
    if creating and not url:
        errors["image_url"] = "error.path.missing"
    if url is not None and (not isinstance(url, str) or len(url) > 255):
        errors["image_url"] = "must be a string of at most 255 characters"
    for name, rule in (("is_thumbnail", Rule("bool")), ("sort_order", PRODUCT_RULES["sort_order"])):
        if name in body:
            message = _check(rule, body[name])
            if message:
                errors[name] = message
    if "description" in body and not isinstance(body["description"], str):
        errors["description"] = "must be a string"
    return errors


def fetch_images(state: BCSimState, images: list[dict[str, Any]]) -> dict[str, str]:
    """Download every image (outside the lock); errors keyed like the request."""
    errors: dict[str, str] = {}
    for index, image in enumerate(images):
        try:
            download(image["image_url"], state.config.image_timeout, state.config.image_max_bytes)
        except ImageDownloadError as exc:
            errors[f"images.{index}"] = str(exc)
    return errors


# -- products --------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return "/" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + "/"


def _conflicts(store: Store, body: dict[str, Any], own_id: int | None) -> dict[str, str]:
    """409 errors: duplicate name/SKU (case-insensitive) and unknown categories."""
    errors: dict[str, str] = {}
    for other in store.products.values():
        if other["id"] == own_id:
            continue
        if "name" in body and other["name"].lower() == body["name"].lower():
            errors["name"] = f"The product name '{body['name']}' is a duplicate"
        sku = body.get("sku")
        if sku and other["sku"].lower() == sku.lower():
            errors["sku"] = f"Sku '{sku}' is not unique"
    sku = body.get("sku")
    if sku and any(v["sku"].lower() == sku.lower() for v in store.variants.values()):
        errors["sku"] = f"Sku '{sku}' is not unique"
    missing = [c for c in body.get("categories", []) if c not in store.categories]
    if missing:
        errors["categories"] = f"Category ids {missing} do not exist"
    return errors


def _conflict_error(errors: dict[str, str]) -> ApiError:
    title = next(iter(errors.values()))
    return ApiError(409, title, errors)


def new_product(state: BCSimState, body: dict[str, Any]) -> dict[str, Any]:
    stamp = iso_now()
    product: dict[str, Any] = {
        "id": state.next_id(), "name": "", "type": "physical", "sku": "", "description": "",
        "weight": 0, "width": 0, "depth": 0, "height": 0, "price": 0, "cost_price": 0,
        "retail_price": 0, "sale_price": 0, "map_price": 0, "tax_class_id": 0,
        "product_tax_code": "", "calculated_price": 0, "categories": [], "brand_id": 0,
        "option_set_id": 0, "option_set_display": "right", "inventory_level": 0,
        "inventory_warning_level": 0, "inventory_tracking": "none", "reviews_rating_sum": 0,
        "reviews_count": 0, "total_sold": 0, "fixed_cost_shipping_price": 0,
        "is_free_shipping": False, "is_visible": True, "is_featured": False,
        "related_products": [-1], "warranty": "", "bin_picking_number": "",
        "layout_file": "product.html", "upc": "", "mpn": "", "gtin": "", "search_keywords": "",
        "availability": "available", "availability_description": "",
        "gift_wrapping_options_type": "any", "gift_wrapping_options_list": [], "sort_order": 0,
        "condition": "New", "is_condition_shown": False, "order_quantity_minimum": 0,
        "order_quantity_maximum": 0, "page_title": "", "meta_keywords": [],
        "meta_description": "", "date_created": stamp, "date_modified": stamp,
        "view_count": 0, "preorder_release_date": None, "preorder_message": "",
        "is_preorder_only": False, "is_price_hidden": False, "price_hidden_label": "",
        "custom_url": {"url": "", "is_customized": False},
        "base_variant_id": state.next_id(), "open_graph_type": "product",
        "open_graph_title": "", "open_graph_description": "",
        "open_graph_use_meta_description": True, "open_graph_use_product_name": True,
        "open_graph_use_image": True,
    }  # fmt: skip
    return product


def _apply(product: dict[str, Any], body: dict[str, Any]) -> set[str]:
    """Copy writable fields; return the names whose value changed."""
    changed: set[str] = set()
    for name in PRODUCT_RULES:
        if name in body and product.get(name) != body[name]:
            product[name] = body[name]
            changed.add(name)
    if product["inventory_level"] > MAX_INT:
        product["inventory_level"] = MAX_INT
    if "custom_url" in body:
        url = {
            "url": body["custom_url"].get("url", product["custom_url"]["url"]),
            "is_customized": bool(body["custom_url"].get("is_customized", True)),
        }
        if url != product["custom_url"]:
            product["custom_url"] = url
            changed.add("custom_url")
    product["calculated_price"] = product["sale_price"] or product["price"]
    return changed


def create_product(
    state: BCSimState, store: Store, body: dict[str, Any], images_ok: bool = True
) -> dict[str, Any]:
    """POST /catalog/products after validation and image download (lock held)."""
    conflicts = _conflicts(store, body, None) | variants.inline_conflicts(store, body)
    if conflicts:
        raise _conflict_error(conflicts)
    product = new_product(state, body)
    _apply(product, body)
    if not product["custom_url"]["url"]:
        product["custom_url"] = {"url": _slug(product["name"]), "is_customized": False}
    store.products[product["id"]] = product
    store.stock[(product["id"], DEFAULT_LOCATION_ID)] = product["inventory_level"]
    store.channel_assignments[product["id"]] = set() if store.multi_storefront else {1}
    variants.create_inline(state, store, product, body)
    for image in body.get("images", []):
        add_image(state, store, product["id"], image)
    state.emit(store, "store/product/created", {"type": "product", "id": product["id"]})
    return product


def get_product(store: Store, product_id: int) -> dict[str, Any]:
    product = store.products.get(product_id)
    if product is None:
        raise ApiError(404, f"Product with id {product_id} not found")
    return product


def update_product(
    state: BCSimState, store: Store, product_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """PUT one product (already validated): 404/409 checks, apply, fire events."""
    product = get_product(store, product_id)
    conflicts = _conflicts(store, body, product_id)
    if conflicts:
        raise _conflict_error(conflicts)
    return _save_update(state, store, product, body)


def _save_update(
    state: BCSimState, store: Store, product: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    before_level = product["inventory_level"]
    changed = _apply(product, body)
    if not changed:
        return product
    product["date_modified"] = iso_now()
    if changed & {"price", "sale_price", "weight"}:
        for variant in variants.product_variants(store, product["id"]):
            variants.refresh(product, variant)
    data = {"type": "product", "id": product["id"]}
    if changed & WATCHED_FIELDS:
        state.emit(store, "store/product/updated", data)
    if "inventory_level" in changed:
        store.stock[(product["id"], DEFAULT_LOCATION_ID)] = product["inventory_level"]
        inventory = {
            "product_id": product["id"],
            "method": "absolute",
            "value": product["inventory_level"] - before_level,
        }
        state.emit(store, "store/product/inventory/updated", {**data, "inventory": inventory})
    return product


def batch_update(
    state: BCSimState, store: Store, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """PUT /catalog/products: all-or-nothing; errors keyed ``<index>.<field>``.

    Whether BigCommerce fails a batch atomically is UNCONFIRMED; atomic keeps the sim simple
    and makes partial writes impossible for the client to miss.
    """
    invalid: dict[str, str] = {}
    for index, item in enumerate(items):
        errors = validate_product(item, creating=False)
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            errors["id"] = "error.path.missing"
        invalid.update({f"{index}.{k}": v for k, v in errors.items()})
    if invalid:
        raise ApiError(422, "JSON data is missing or invalid", invalid)
    missing = [item["id"] for item in items if item["id"] not in store.products]
    if missing:
        raise ApiError(404, f"Products {missing} not found", {"id": f"not found: {missing}"})
    conflicts = _batch_conflicts(store, items)
    if conflicts:
        raise _conflict_error(conflicts)
    return [_save_update(state, store, store.products[item["id"]], item) for item in items]


def _batch_conflicts(store: Store, items: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        for key, text in _conflicts(store, item, item["id"]).items():
            errors[f"{index}.{key}"] = text
        for name in ("name", "sku"):
            value = item.get(name)
            if not value:
                continue
            earlier = seen.setdefault((name, value.lower()), index)
            if earlier != index:
                errors[f"{index}.{name}"] = f"duplicates item {earlier} in this batch"
    return errors


def delete_product(state: BCSimState, store: Store, product_id: int) -> None:
    get_product(store, product_id)
    del store.products[product_id]
    store.images.pop(product_id, None)
    for key in [k for k in store.stock if k[0] == product_id]:
        del store.stock[key]
    variants.delete_product(store, product_id)
    state.emit(store, "store/product/deleted", {"type": "product", "id": product_id})


def matches_filters(product: dict[str, Any], args: dict[str, str]) -> bool:
    """Product list filters (exact match semantics, case-insensitive SKU)."""

    def csv(name: str) -> list[str]:
        return [v.strip() for v in args[name].split(",") if v.strip()]

    tests: list[tuple[str, Callable[[], bool]]] = [
        ("id", lambda: str(product["id"]) == args["id"]),
        ("id:in", lambda: str(product["id"]) in csv("id:in")),
        ("id:not_in", lambda: str(product["id"]) not in csv("id:not_in")),
        ("sku", lambda: product["sku"].lower() == args["sku"].lower()),
        ("sku:in", lambda: product["sku"].lower() in {s.lower() for s in csv("sku:in")}),
        ("upc", lambda: product["upc"] == args["upc"]),
        ("name", lambda: product["name"] == args["name"]),
        ("is_visible", lambda: str(product["is_visible"]).lower() == args["is_visible"].lower()),
        ("type", lambda: product["type"] == args["type"]),
        ("availability", lambda: product["availability"] == args["availability"]),
    ]
    return all(test() for name, test in tests if name in args)


# -- images ----------------------------------------------------------------------------------


def add_image(
    state: BCSimState, store: Store, product_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """Store an already-downloaded image; the first one or an explicit one is the thumbnail."""
    images = store.images.setdefault(product_id, [])
    url = body["image_url"]
    image = {
        "id": state.next_id(),
        "product_id": product_id,
        "image_url": url,
        "url_zoom": url,
        "url_standard": url,
        "url_thumbnail": url,
        "url_tiny": url,
        "is_thumbnail": bool(body.get("is_thumbnail", False)) or not images,
        "sort_order": body.get("sort_order", len(images)),
        "description": body.get("description", ""),
        "date_modified": iso_now(),
    }
    if image["is_thumbnail"]:
        for other in images:
            other["is_thumbnail"] = False
    images.append(image)
    return image


def list_images(store: Store, product_id: int) -> list[dict[str, Any]]:
    get_product(store, product_id)
    return sorted(store.images.get(product_id, []), key=lambda i: (i["sort_order"], i["id"]))


def get_image(store: Store, product_id: int, image_id: int) -> dict[str, Any]:
    for image in list_images(store, product_id):
        if image["id"] == image_id:
            return image
    raise ApiError(404, f"Image with id {image_id} not found")


def update_image(store: Store, product_id: int, image_id: int, body: dict[str, Any]):
    image = get_image(store, product_id, image_id)
    for name in ("image_url", "sort_order", "description"):
        if name in body:
            image[name] = body[name]
    if "image_url" in body:
        for key in ("url_zoom", "url_standard", "url_thumbnail", "url_tiny"):
            image[key] = body["image_url"]
    if body.get("is_thumbnail"):
        for other in store.images[product_id]:
            other["is_thumbnail"] = other is image
    image["date_modified"] = iso_now()
    return image


def delete_image(store: Store, product_id: int, image_id: int) -> None:
    image = get_image(store, product_id, image_id)
    images = store.images[product_id]
    images.remove(image)
    # A product keeps exactly one thumbnail while it has images.
    if image["is_thumbnail"] and images:
        min(images, key=lambda i: (i["sort_order"], i["id"]))["is_thumbnail"] = True


# -- categories (trees API) ------------------------------------------------------------------


def create_categories(
    state: BCSimState, store: Store, items: list[Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Batch create; per-item errors keyed ``<index>.<field>`` (the rest are created)."""
    created: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(items):
        problem = _category_problem(store, item)
        if problem:
            field_name, text = problem
            errors[f"{index}.{field_name}"] = text
            continue
        category = _new_category(state, store, item)
        store.categories[category["category_id"]] = category
        created.append(category)
        state.emit(
            store, "store/category/created", {"type": "category", "id": category["category_id"]}
        )
    return created, errors


def _category_problem(store: Store, item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return "body", "must be a JSON object"
    name = item.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 50:
        return "name", "must be a string of 1 to 50 characters"
    parent_id = item.get("parent_id", 0) or 0
    if parent_id:
        parent = store.categories.get(parent_id)
        if parent is None:
            return "parent_id", f"Parent category {parent_id} does not exist"
        if item.get("tree_id") not in (None, parent["tree_id"]):
            return "tree_id", f"Parent category {parent_id} is not in tree {item['tree_id']}"
        tree_id = parent["tree_id"]
    else:
        tree_id = item.get("tree_id")
        if tree_id not in store.trees:
            return "tree_id", "tree_id or parent_id is required and must exist"
    for other in store.categories.values():
        same_place = other["tree_id"] == tree_id and other["parent_id"] == parent_id
        if same_place and other["name"].lower() == name.lower():
            return "name", f"Category name '{name}' is not unique among its siblings"
    return None


def _new_category(state: BCSimState, store: Store, item: dict[str, Any]) -> dict[str, Any]:
    parent_id = item.get("parent_id", 0) or 0
    tree_id = store.categories[parent_id]["tree_id"] if parent_id else item["tree_id"]
    url = item.get("url") or {"path": _slug(item["name"]), "is_customized": False}
    return {
        "category_id": state.next_id(),
        "category_uuid": str(uuid.uuid4()),
        "tree_id": tree_id,
        "parent_id": parent_id,
        "name": item["name"],
        "description": item.get("description", ""),
        "views": 0,
        "sort_order": item.get("sort_order", 0),
        "page_title": item.get("page_title", ""),
        "meta_keywords": item.get("meta_keywords", []),
        "meta_description": item.get("meta_description", ""),
        "layout_file": item.get("layout_file", "category.html"),
        "image_url": item.get("image_url", ""),
        "is_visible": item.get("is_visible", True),
        "search_keywords": item.get("search_keywords", ""),
        "default_product_sort": item.get("default_product_sort", "use_store_settings"),
        "url": url,
    }


def category_filters(category: dict[str, Any], args: dict[str, str]) -> bool:
    def csv_ints(name: str) -> set[int]:
        return {int(v) for v in args[name].split(",") if v.strip().isdigit()}

    tests: list[tuple[str, Callable[[], bool]]] = [
        ("name", lambda: category["name"] == args["name"]),
        ("name:like", lambda: args["name:like"].lower() in category["name"].lower()),
        ("parent_id:in", lambda: category["parent_id"] in csv_ints("parent_id:in")),
        ("category_id:in", lambda: category["category_id"] in csv_ints("category_id:in")),
        ("tree_id:in", lambda: category["tree_id"] in csv_ints("tree_id:in")),
        ("is_visible", lambda: str(category["is_visible"]).lower() == args["is_visible"]),
    ]
    return all(test() for name, test in tests if name in args)


def legacy_category(category: dict[str, Any]) -> dict[str, Any]:
    """The deprecated /v3/catalog/categories shape (``id``, ``custom_url``)."""
    return {
        "id": category["category_id"],
        "parent_id": category["parent_id"],
        "name": category["name"],
        "description": category["description"],
        "views": category["views"],
        "sort_order": category["sort_order"],
        "page_title": category["page_title"],
        "search_keywords": category["search_keywords"],
        "meta_keywords": category["meta_keywords"],
        "meta_description": category["meta_description"],
        "layout_file": category["layout_file"],
        "is_visible": category["is_visible"],
        "default_product_sort": category["default_product_sort"],
        "image_url": category["image_url"],
        "custom_url": {
            "url": category["url"]["path"],
            "is_customized": category["url"]["is_customized"],
        },
    }


def assign_channels(store: Store, body: Any) -> None:
    """PUT /v3/catalog/products/channel-assignments: all items valid, or 422 and nothing."""
    if not isinstance(body, list) or not body:
        raise ApiError(
            422, "JSON data is missing or invalid", {"body": "must be a non-empty array"}
        )
    errors: dict[str, str] = {}
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            errors[str(index)] = "must be an object"
        elif item.get("product_id") not in store.products:
            errors[str(index)] = f"product {item.get('product_id')} does not exist"
        elif item.get("channel_id") not in store.channels:
            errors[str(index)] = f"channel {item.get('channel_id')} does not exist"
    if errors:
        raise ApiError(422, "Invalid channel assignments", errors)
    for item in body:
        store.channel_assignments.setdefault(item["product_id"], set()).add(item["channel_id"])


def channel_assignments(store: Store, args: Any) -> list[dict[str, int]]:
    """GET /v3/catalog/products/channel-assignments (``product_id:in`` filter)."""
    wanted = {int(v) for v in args.get("product_id:in", "").split(",") if v.strip().isdigit()}
    rows = []
    for product_id in sorted(store.products):
        if wanted and product_id not in wanted:
            continue
        for channel_id in sorted(store.channel_assignments.get(product_id, {1})):
            rows.append({"product_id": product_id, "channel_id": channel_id})
    return rows
