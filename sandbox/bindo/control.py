"""Back-office control endpoints (``/_sim/...``): what a merchant does in Bindo, over JSON.

No auth: the simulator binds loopback and these stand in for a person at the back office.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.bindo.state import SimError, SimState

bp = Blueprint("bindo_control", __name__, url_prefix="/_sim")


def sim() -> SimState:
    return current_app.extensions["bindosim"]


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SimError(400, "bad_request", "the body must be a JSON object")
    return data


@bp.errorhandler(SimError)
def _sim_error(exc: SimError) -> tuple[Response, int]:
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


@bp.post("/stores")
def create_store() -> tuple[Response, int]:
    data = body()
    store = sim().create_store(
        str(data["store_id"]), data["token"], data["webhook_secret"], data.get("locations")
    )
    return jsonify({"data": store}), 201


@bp.get("/stores/<store_id>/state")
def store_state(store_id: str) -> Response:
    """Everything about a store as JSON (for scripts and assertions from other processes)."""
    state = sim()
    with state.lock:
        store = state.store(store_id)
        products = [state.render_product(p) for _, p in sorted(store.products.items())]
        return jsonify(
            {
                "data": {
                    **state.describe_store(store_id),
                    "products": products,
                    "stock": state.stock_rows(store_id),
                    "customers": state.customers(store_id),
                    "orders": state.orders(store_id),
                    "events": state.events(store_id),
                }
            }
        )


@bp.post("/stores/<store_id>/products")
def create_product(store_id: str) -> tuple[Response, int]:
    data = body()
    stock = data.pop("stock", None) or {}
    image_count = data.pop("image_count", 1)
    image_urls = data.pop("image_urls", [])
    if not isinstance(stock, dict) or not all(str(k).isdigit() for k in stock):
        raise SimError(400, "bad_request", "stock must map location ids to quantities")
    if not isinstance(image_count, int) or isinstance(image_count, bool) or image_count < 0:
        raise SimError(400, "bad_request", "image_count must be a whole number")
    if not isinstance(image_urls, list) or not all(isinstance(u, str) for u in image_urls):
        raise SimError(400, "bad_request", "image_urls must be a list of URLs")
    stock = {int(k): v for k, v in stock.items()}
    variants = [
        {**v, "stock": {int(k): q for k, q in (v.get("stock") or {}).items()}}
        for v in data.pop("variants", None) or []
    ]
    product = sim().create_product(
        store_id,
        image_count=image_count,
        image_urls=image_urls,
        stock=stock,
        variants=variants,
        options=data.pop("options", None),
        **data,
    )
    return jsonify({"data": product}), 201


@bp.patch("/stores/<store_id>/products/<int:product_id>")
def update_product(store_id: str, product_id: int) -> Response:
    return jsonify({"data": sim().update_product(store_id, product_id, **body())})


@bp.put("/stores/<store_id>/products/<int:product_id>/images")
def reorder_images(store_id: str, product_id: int) -> Response:
    """``{"order": [image ids]}``: the back office's drag-and-drop of a product's images."""
    order = body().get("order")
    if not isinstance(order, list):
        raise SimError(400, "bad_request", "order must be a list of image ids")
    return jsonify({"data": sim().reorder_images(store_id, product_id, order)})


@bp.delete("/stores/<store_id>/products/<int:product_id>")
def delete_product(store_id: str, product_id: int) -> Response:
    return jsonify({"data": sim().delete_product(store_id, product_id)})


@bp.post("/stores/<store_id>/products/<int:product_id>/in_store_only")
def in_store_only(store_id: str, product_id: int) -> Response:
    value = bool((request.get_json(silent=True) or {}).get("in_store_only", True))
    return jsonify({"data": sim().set_in_store_only(store_id, product_id, value)})


@bp.put("/stores/<store_id>/products/<int:product_id>/options")
def set_options(store_id: str, product_id: int) -> Response:
    return jsonify({"data": sim().set_options(store_id, product_id, body().get("options", []))})


@bp.post("/stores/<store_id>/products/<int:product_id>/variants")
def add_variant(store_id: str, product_id: int) -> tuple[Response, int]:
    data = body()
    stock = {int(k): v for k, v in (data.pop("stock", None) or {}).items()}
    return jsonify({"data": sim().add_variant(store_id, product_id, stock=stock, **data)}), 201


@bp.patch("/stores/<store_id>/products/<int:product_id>/variants/<int:variant_id>")
def update_variant(store_id: str, product_id: int, variant_id: int) -> Response:
    product = sim().update_variant(store_id, product_id, variant_id, **body())
    return jsonify({"data": product})


@bp.delete("/stores/<store_id>/products/<int:product_id>/variants/<int:variant_id>")
def delete_variant(store_id: str, product_id: int, variant_id: int) -> Response:
    return jsonify({"data": sim().delete_variant(store_id, product_id, variant_id)})


@bp.put("/stores/<store_id>/stock")
def set_stock(store_id: str) -> Response:
    data = body()
    variant_id = data.get("variant_id")
    qty = sim().set_stock(
        store_id, data["product_id"], data["location_id"], data["quantity"], variant_id
    )
    row = {"product_id": data["product_id"], "location_id": data["location_id"], "quantity": qty}
    if variant_id is not None:
        row["variant_id"] = variant_id
    return jsonify({"data": row})


@bp.post("/stores/<store_id>/sales")
def sell_in_store(store_id: str) -> tuple[Response, int]:
    data = body()
    rows = sim().sell_in_store(store_id, data["location_id"], data["lines"])
    return jsonify({"data": rows}), 201


@bp.post("/stores/<store_id>/token")
def rotate_token(store_id: str) -> Response:
    sim().set_token(store_id, body()["token"])
    return jsonify({"data": {"store_id": store_id}})


@bp.post("/stores/<store_id>/demo-catalog")
def demo_catalog(store_id: str) -> tuple[Response, int]:
    from sandbox.bindo.demo_catalog import build_demo_catalog

    state = sim()
    products = build_demo_catalog(state, store_id, state.public_url or request.host_url)
    return jsonify({"data": {"created": len(products)}}), 201


@bp.route("/delivery-faults", methods=["GET", "PUT"])
def delivery_faults() -> Response:
    state = sim()
    if request.method == "PUT":
        try:
            return jsonify({"data": state.set_delivery_faults(**body())})
        except TypeError as exc:
            raise SimError(400, "bad_request", str(exc)) from None
    return jsonify({"data": state.set_delivery_faults()})


@bp.post("/api-faults")
def api_faults() -> tuple[Response, int]:
    data = body()
    sim().inject_api_fault(data.pop("status", 500), **data)
    return jsonify({"data": sim().api_faults}), 201


@bp.get("/deliveries")
def deliveries() -> Response:
    return jsonify({"data": sim().deliveries, "pending": sim().dispatcher.pending()})


@bp.post("/wait-deliveries")
def wait_deliveries() -> Response:
    timeout = float((request.get_json(silent=True) or {}).get("timeout", 5.0))
    return jsonify({"data": {"idle": sim().wait_deliveries(timeout)}})
