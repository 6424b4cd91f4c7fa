"""The REST surface under /stores/<hash>/v2|v3: auth, rate limit, faults, log and routes."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from . import catalog, hooks, inventory, orders, storeinfo, variants
from .errors import ApiError, batch_too_large
from .state import BCSimState, Store
from .traffic import FaultRule

bp = Blueprint("bc_api", __name__, url_prefix="/stores/<store_hash>")
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def sim() -> BCSimState:
    return current_app.extensions["bcsim"]


def store() -> Store:
    return sim().store(g.store_hash)


def api_path() -> str:
    return request.path[len(f"/stores/{g.store_hash}") :]


def is_v2() -> bool:
    return api_path().startswith("/v2/")


def endpoint_template() -> str:
    rule = request.url_rule.rule if request.url_rule else request.path
    return _CONVERTER.sub(r"{\1}", rule).replace("/stores/{store_hash}", "", 1)


def body() -> Any:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise ApiError(400, "The request body is not valid JSON")
    return data


def v3(data: Any, meta: dict[str, Any] | None = None, status: int = 200) -> Response:
    response = jsonify({"data": data, "meta": meta or {}})
    response.status_code = status
    return response


def paginate(
    items: list[Any], default: int = 50, maximum: int = 250
) -> tuple[list[Any], dict[str, Any]]:
    """Slice by page/limit; ``limit`` above the maximum is clamped (documented choice)."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        limit = min(maximum, max(1, int(request.args.get("limit", default))))
    except ValueError as exc:
        raise ApiError(400, "page and limit must be integers") from exc
    total = len(items)
    pages = max(1, math.ceil(total / limit))
    chunk = items[(page - 1) * limit : page * limit]
    links = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    pagination = {
        "total": total,
        "count": len(chunk),
        "per_page": limit,
        "current_page": page,
        "total_pages": pages,
        "links": links,
    }
    return chunk, {"pagination": pagination}


# -- cross-cutting ---------------------------------------------------------------------------


@bp.url_value_preprocessor
def _pull_store(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.store_hash = (values or {}).pop("store_hash", "")


@bp.before_request
def _gate() -> Response | None:
    state = sim()
    g.started = time.monotonic()
    state.store(g.store_hash)  # unknown store -> 404
    fault = state.faults.take(g.store_hash, api_path())
    if fault is not None:
        answer = _fault_response(state, fault)
        if answer is not None:
            return answer
    window = state.rate_limiter.charge(g.store_hash)
    g.rate = window
    if not window.allowed:
        return _too_many(window.headers(), window.reset_ms)
    state.check_token(g.store_hash, request.headers.get("X-Auth-Token"))
    return None


def _too_many(headers: dict[str, str], reset_ms: int) -> Response:
    error = ApiError(429, "Too many requests")
    response = jsonify(error.v2_body() if is_v2() else error.v3_body())
    response.status_code = 429
    response.headers.update(headers)
    if headers:
        response.headers["X-Retry-After"] = str(max(1, math.ceil(reset_ms / 1000)))
    return response


def _fault_response(state: BCSimState, fault: FaultRule) -> Response | None:
    """Answer a scripted fault, or return None to let the request proceed (207)."""
    mode = fault.mode
    if mode == "207":
        g.fault_207 = True
        return None
    if mode == "429":
        window = state.rate_limiter.peek(g.store_hash)
        g.rate = window
        return _too_many(window.headers(), window.reset_ms)
    if mode == "429_no_headers":
        g.no_rate_headers = True
        return _too_many({}, 0)
    if mode == "timeout":
        time.sleep(fault.delay if fault.delay is not None else state.config.fault_timeout_delay)
        return Response("upstream timed out", status=504)
    if mode == "malformed_json":
        return Response('{"data": [{"id": 1, "name": ', status=200, mimetype="application/json")
    if fault.delay:
        time.sleep(fault.delay)
    error = ApiError(int(mode))
    response = jsonify(error.v2_body() if is_v2() else error.v3_body())
    response.status_code = int(mode)
    return response


@bp.after_request
def _finish(response: Response) -> Response:
    state = sim()
    if getattr(g, "fault_207", False) and response.status_code == 200 and response.is_json:
        response = _as_partial(response)
    if not getattr(g, "no_rate_headers", False) and g.get("store_hash") in state.stores:
        window = g.get("rate") or state.rate_limiter.peek(g.store_hash)
        response.headers.update(window.headers())
    state.requests.record(
        g.get("store_hash", ""), request.method, endpoint_template(), response.status_code
    )
    return response


def _as_partial(response: Response) -> Response:
    """207: the main save worked but a sub-part (inventory) failed, per the products spec."""
    payload = response.get_json()
    payload["errors"] = {
        "status": 422,
        "title": "Inventory could not be saved",
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        "errors": {"inventory_level": "simulated partial failure"},
    }
    partial = jsonify(payload)
    partial.status_code = 207
    return partial


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    response = jsonify(error.v2_body() if is_v2() else error.v3_body())
    response.status_code = error.status
    if api_path().startswith("/v3/inventory/"):
        # The Inventory API answers errors as RFC 7807 problem documents.
        response.mimetype = "application/problem+json"
    return response


# -- catalog: products -----------------------------------------------------------------------


def _with_images(product: dict[str, Any]) -> dict[str, Any]:
    """The product plus what ``include`` asks for (images, variants, options)."""
    include = request.args.get("include", "").split(",")
    extra: dict[str, Any] = {}
    if "images" in include:
        extra["images"] = catalog.list_images(store(), product["id"])
    if "variants" in include:
        extra["variants"] = variants.product_variants(store(), product["id"])
    if "options" in include:
        extra["options"] = variants.product_options(store(), product["id"])
    return {**product, **extra} if extra else product


@bp.get("/v3/catalog/products")
def list_products() -> Response:
    with sim().lock:
        found = [p for p in store().products.values() if catalog.matches_filters(p, request.args)]
        found.sort(key=lambda p: p["id"])
        chunk, meta = paginate(found)
        return v3([_with_images(p) for p in chunk], meta)


@bp.post("/v3/catalog/products")
def create_product() -> Response:
    payload = body()
    errors = catalog.validate_product(payload, creating=True)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    image_errors = catalog.fetch_images(sim(), payload.get("images", []))
    if image_errors:
        # Reject the whole create so no product is half-saved without its images.
        raise ApiError(422, "Image could not be downloaded", {"images": image_errors})
    with sim().lock:
        product = catalog.create_product(sim(), store(), payload)
        data = _with_images(product)
        if payload.get("variants"):  # the created variants come back, as in the spec example
            data = {**data, "variants": variants.product_variants(store(), product["id"])}
        return v3(data)


@bp.put("/v3/catalog/products/channel-assignments")
def assign_channels() -> Response:
    payload = body()
    with sim().lock:
        catalog.assign_channels(store(), payload)
    return Response(status=204)


@bp.get("/v3/catalog/products/channel-assignments")
def list_channel_assignments() -> Response:
    with sim().lock:
        rows = catalog.channel_assignments(store(), request.args)
    page, meta = paginate(rows)
    return v3(page, meta)


@bp.get("/v3/channels")
def list_channels() -> Response:
    with sim().lock:
        rows = [dict(c) for c in store().channels.values()]
    page, meta = paginate(rows)
    return v3(page, meta)


@bp.put("/v3/catalog/products")
def batch_update_products() -> Response:
    payload = body()
    if not isinstance(payload, list):
        raise ApiError(422, "JSON data is missing or invalid", {"body": "must be an array"})
    if len(payload) > 10:
        raise batch_too_large(10)
    with sim().lock:
        return v3(catalog.batch_update(sim(), store(), payload))


@bp.delete("/v3/catalog/products")
def delete_products() -> Response:
    ids = [int(v) for v in request.args.get("id:in", "").split(",") if v.strip().isdigit()]
    if not ids:
        raise ApiError(422, "A filter is required", {"id:in": "error.path.missing"})
    with sim().lock:
        for product_id in ids:
            if product_id in store().products:
                catalog.delete_product(sim(), store(), product_id)
    return Response(status=204)


@bp.get("/v3/catalog/products/<int:id>")
def get_product(id: int) -> Response:
    with sim().lock:
        return v3(_with_images(catalog.get_product(store(), id)))


@bp.put("/v3/catalog/products/<int:id>")
def update_product(id: int) -> Response:
    payload = body()
    errors = catalog.validate_product(payload, creating=False)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    with sim().lock:
        return v3(catalog.update_product(sim(), store(), id, payload))


@bp.delete("/v3/catalog/products/<int:id>")
def delete_product(id: int) -> Response:
    with sim().lock:
        catalog.delete_product(sim(), store(), id)
    return Response(status=204)


# -- catalog: variants and options -----------------------------------------------------------


@bp.get("/v3/catalog/products/<int:id>/variants")
def list_product_variants(id: int) -> Response:
    with sim().lock:
        catalog.get_product(store(), id)
        chunk, meta = paginate(variants.product_variants(store(), id))
        return v3(chunk, meta)


@bp.post("/v3/catalog/products/<int:id>/variants")
def create_product_variant(id: int) -> Response:
    payload = body()
    with sim().lock:
        return v3(variants.create_one(sim(), store(), id, payload))


def _variant_of(product_id: int, variant_id: int) -> dict[str, Any]:
    catalog.get_product(store(), product_id)
    variant = store().variants.get(variant_id)
    if variant is None or variant["product_id"] != product_id:
        raise ApiError(404, f"Variant with id {variant_id} not found")
    return variant


@bp.get("/v3/catalog/products/<int:id>/variants/<int:variant_id>")
def get_product_variant(id: int, variant_id: int) -> Response:
    with sim().lock:
        return v3(_variant_of(id, variant_id))


@bp.put("/v3/catalog/products/<int:id>/variants/<int:variant_id>")
def update_product_variant(id: int, variant_id: int) -> Response:
    payload = body()
    if not isinstance(payload, dict):
        raise ApiError(422, "JSON data is missing or invalid", {"body": "must be an object"})
    errors = variants.validate_fields(payload)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    with sim().lock:
        variant = _variant_of(id, variant_id)
        sku = payload.get("sku")
        if sku and variants.sku_taken(store(), sku, variant_id):
            raise ApiError(409, f"Sku '{sku}' is not unique", {"sku": "duplicate"})
        variants.update_one(sim(), store(), variant, payload)
        return v3(variant)


@bp.get("/v3/catalog/products/<int:id>/options")
def list_product_options(id: int) -> Response:
    with sim().lock:
        catalog.get_product(store(), id)
        chunk, meta = paginate(variants.product_options(store(), id))
        return v3(chunk, meta)


@bp.post("/v3/catalog/products/<int:id>/options")
def create_product_option(id: int) -> Response:
    payload = body()
    with sim().lock:
        catalog.get_product(store(), id)
        return v3(variants.create_option(sim(), store(), id, payload))


@bp.get("/v3/catalog/products/<int:id>/options/<int:option_id>/values")
def list_option_values(id: int, option_id: int) -> Response:
    with sim().lock:
        catalog.get_product(store(), id)
        for option in variants.product_options(store(), id):
            if option["id"] == option_id:
                chunk, meta = paginate(option["option_values"])
                return v3(chunk, meta)
        raise ApiError(404, f"Option {option_id} not found")


@bp.post("/v3/catalog/products/<int:id>/options/<int:option_id>/values")
def create_option_value(id: int, option_id: int) -> Response:
    payload = body()
    with sim().lock:
        catalog.get_product(store(), id)
        return v3(variants.add_option_value(sim(), store(), id, option_id, payload))


@bp.get("/v3/catalog/variants")
def list_all_variants() -> Response:
    with sim().lock:
        found = [v for v in store().variants.values() if variants.matches(v, request.args)]
        chunk, meta = paginate(sorted(found, key=lambda v: v["id"]))
        return v3(chunk, meta)


@bp.put("/v3/catalog/variants")
def batch_update_variants() -> Response:
    payload = body()
    with sim().lock:
        return v3(variants.batch_update(sim(), store(), payload))


# -- catalog: images -------------------------------------------------------------------------


@bp.get("/v3/catalog/products/<int:id>/images")
def list_images(id: int) -> Response:
    with sim().lock:
        images = catalog.list_images(store(), id)
    if not images:
        return Response(status=204)
    chunk, meta = paginate(images)
    return v3(chunk, meta)


def _download_or_400(url: str) -> None:
    config = sim().config
    try:
        catalog.download(url, config.image_timeout, config.image_max_bytes)
    except catalog.ImageDownloadError as exc:
        raise ApiError(400, str(exc), {"image_url": str(exc)}) from exc


@bp.post("/v3/catalog/products/<int:id>/images")
def create_image(id: int) -> Response:
    payload = body()
    errors = catalog.validate_image_fields(payload, creating=True)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    with sim().lock:
        catalog.get_product(store(), id)
    _download_or_400(payload["image_url"])
    with sim().lock:
        return v3(catalog.add_image(sim(), store(), id, payload))


@bp.get("/v3/catalog/products/<int:id>/images/<int:image_id>")
def get_image(id: int, image_id: int) -> Response:
    with sim().lock:
        return v3(catalog.get_image(store(), id, image_id))


@bp.put("/v3/catalog/products/<int:id>/images/<int:image_id>")
def update_image(id: int, image_id: int) -> Response:
    payload = body()
    errors = catalog.validate_image_fields(payload, creating=False)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    with sim().lock:
        catalog.get_image(store(), id, image_id)
    if "image_url" in payload:
        _download_or_400(payload["image_url"])
    with sim().lock:
        return v3(catalog.update_image(store(), id, image_id, payload))


@bp.delete("/v3/catalog/products/<int:id>/images/<int:image_id>")
def delete_image(id: int, image_id: int) -> Response:
    with sim().lock:
        catalog.delete_image(store(), id, image_id)
    return Response(status=204)


# -- catalog: categories ---------------------------------------------------------------------


@bp.get("/v3/catalog/trees")
def list_trees() -> Response:
    with sim().lock:
        trees = sorted(store().trees.values(), key=lambda t: t["id"])
    wanted = request.args.get("channel_id:in")
    if wanted:
        channels = {int(v) for v in wanted.split(",") if v.strip().isdigit()}
        trees = [t for t in trees if channels & set(t["channels"])]
    chunk, meta = paginate(trees)
    return v3(chunk, meta)


@bp.get("/v3/catalog/trees/categories")
def list_tree_categories() -> Response:
    with sim().lock:
        found = [
            c for c in store().categories.values() if catalog.category_filters(c, request.args)
        ]
    chunk, meta = paginate(sorted(found, key=lambda c: c["category_id"]))
    return v3(chunk, meta)


@bp.post("/v3/catalog/trees/categories")
def create_tree_categories() -> Response:
    payload = body()
    if not isinstance(payload, list) or not payload:
        raise ApiError(400, "The request body must be a non-empty array")
    with sim().lock:
        created, errors = catalog.create_categories(sim(), store(), payload)
    meta = {"total": len(payload), "success": len(created), "failed": len(payload) - len(created)}
    if not errors:
        return v3(created, meta, status=201)
    block = ApiError(422, "Some categories could not be created", errors).v3_body()
    status = 207 if created else 422
    response = jsonify({"data": created, "errors": block, "meta": meta})
    if not created:
        response = jsonify({"errors": block, "meta": meta})
    response.status_code = status
    return response


@bp.get("/v3/catalog/categories")
def list_legacy_categories() -> Response:
    with sim().lock:
        # The deprecated API only shows channel 1's tree.
        tree_ids = {t["id"] for t in store().trees.values() if 1 in t["channels"]}
        found = [c for c in store().categories.values() if c["tree_id"] in tree_ids]
    args = request.args
    if "parent_id" in args:
        found = [c for c in found if str(c["parent_id"]) == args["parent_id"]]
    if "name" in args:
        found = [c for c in found if c["name"] == args["name"]]
    if "id:in" in args:
        ids = set(args["id:in"].split(","))
        found = [c for c in found if str(c["category_id"]) in ids]
    chunk, meta = paginate(sorted(found, key=lambda c: c["category_id"]))
    return v3([catalog.legacy_category(c) for c in chunk], meta)


# -- inventory -------------------------------------------------------------------------------


@bp.put("/v3/inventory/adjustments/absolute")
def absolute_adjustment() -> Response:
    payload = body()
    with sim().lock:
        transaction_id = inventory.absolute_adjustment(sim(), store(), payload)
    return jsonify({"transaction_id": transaction_id})


@bp.get("/v3/inventory/items")
def inventory_items() -> Response:
    with sim().lock:
        items = inventory.inventory_items(store(), request.args)
    chunk, meta = paginate(items, maximum=1000)
    return v3(chunk, meta)


@bp.get("/v3/inventory/locations")
def inventory_locations() -> Response:
    with sim().lock:
        locations = sorted(store().locations.values(), key=lambda loc: loc["id"])
    if request.args.get("is_default") == "true":
        locations = [loc for loc in locations if loc["id"] == 1]
    chunk, meta = paginate(locations, maximum=1000)
    return v3(chunk, meta)


@bp.post("/v3/inventory/locations")
def create_locations() -> Response:
    payload = body()
    with sim().lock:
        transaction_id = inventory.create_locations(store(), payload)
    return jsonify({"transaction_id": transaction_id})


# -- webhooks --------------------------------------------------------------------------------


@bp.post("/v3/hooks")
def create_hook() -> Response:
    payload = body()
    with sim().lock:
        return v3(hooks.create_hook(sim(), store(), payload))


@bp.get("/v3/hooks")
def list_hooks() -> Response:
    with sim().lock:
        found = hooks.list_hooks(store(), request.args)
    chunk, meta = paginate(found)
    return v3(chunk, meta)


@bp.get("/v3/hooks/<int:id>")
def get_hook(id: int) -> Response:
    with sim().lock:
        return v3(hooks.get_hook(store(), id))


@bp.put("/v3/hooks/<int:id>")
def update_hook(id: int) -> Response:
    payload = body()
    with sim().lock:
        return v3(hooks.update_hook(sim(), store(), id, payload))


@bp.delete("/v3/hooks/<int:id>")
def delete_hook(id: int) -> Response:
    with sim().lock:
        return v3(hooks.delete_hook(store(), id))


# -- v2: store information -------------------------------------------------------------------


@bp.get("/v2/store")
def store_information() -> Response:
    with sim().lock:
        return jsonify(storeinfo.store_information(sim(), store()))


@bp.get("/v2/time")
def server_time() -> Response:
    return jsonify({"time": int(time.time())})


# -- v2: orders ------------------------------------------------------------------------------


def _v2_page(items: list[Any]) -> Response:
    try:
        page = max(1, int(request.args.get("page", 1)))
        limit = min(250, max(1, int(request.args.get("limit", 50))))
    except ValueError as exc:
        raise ApiError(400, "page and limit must be integers") from exc
    chunk = items[(page - 1) * limit : page * limit]
    if not chunk and sim().config.v2_empty_list_204:
        return Response(status=204)
    return jsonify(chunk)


@bp.get("/v2/orders")
def list_orders() -> Response:
    with sim().lock:
        found = [orders.public(o) for o in orders.list_orders(store(), request.args)]
    return _v2_page(found)


@bp.post("/v2/orders")
def create_order() -> Response:
    payload = body()
    with sim().lock:
        return jsonify(orders.public(orders.create_order(sim(), store(), payload)))


@bp.get("/v2/orders/<int:id>")
def get_order(id: int) -> Response:
    with sim().lock:
        return jsonify(orders.public(orders.get_order(store(), id)))


@bp.put("/v2/orders/<int:id>")
def update_order(id: int) -> Response:
    payload = body()
    with sim().lock:
        return jsonify(orders.public(orders.update_order(sim(), store(), id, payload)))


@bp.get("/v2/orders/<int:id>/products")
def order_products(id: int) -> Response:
    with sim().lock:
        orders.get_order(store(), id)
        lines = [orders.public(line) for line in store().order_lines[id]]
    return _v2_page(lines)


@bp.get("/v3/orders/<int:id>/payment_actions/refunds")
def order_refunds(id: int) -> Response:
    with sim().lock:
        return v3(orders.refunds(store(), id))


@bp.get("/v2/orders/<int:id>/coupons")
def order_coupons(id: int) -> Response:
    with sim().lock:
        coupons = [dict(c) for c in orders.get_order(store(), id).get("_coupons", [])]
    return _v2_page(coupons)


@bp.get("/v2/orders/<int:id>/shipping_addresses")
@bp.get("/v2/orders/<int:id>/shippingaddresses")
def order_shipping_addresses(id: int) -> Response:
    with sim().lock:
        orders.get_order(store(), id)
        addresses = list(store().order_addresses[id])
    return _v2_page(addresses)


@bp.get("/v2/order_statuses")
def order_statuses() -> Response:
    return jsonify(
        [
            {
                "id": sid,
                "name": name,
                "system_label": name,
                "custom_label": name,
                "system_description": name,
                "order": sid,
            }
            for sid, name in orders.STATUSES.items()
        ]
    )
