"""Plain HTML pages for humans watching a demo (autoescaped Jinja templates)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from . import catalog, orders, variants
from .errors import ApiError
from .state import BCSimState, Store

bp = Blueprint("bc_pages", __name__, template_folder="templates")


def sim() -> BCSimState:
    return current_app.extensions["bcsim"]


@bp.get("/")
def index() -> str:
    with sim().lock:
        stores = [s.public() for s in sim().stores.values()]
    return render_template("bcsim_index.html", stores=stores)


def _product_rows(store: Store) -> list[dict[str, Any]]:
    rows = []
    for product in sorted(store.products.values(), key=lambda p: p["id"]):
        images = catalog.list_images(store, product["id"])
        thumb = next((i for i in images if i["is_thumbnail"]), images[0] if images else None)
        names = [
            store.categories[c]["name"] for c in product["categories"] if c in store.categories
        ]
        own = variants.product_variants(store, product["id"])
        rows.append({"product": product, "thumb": thumb, "categories": names, "variants": own})
    return rows


def _order_rows(store: Store) -> list[dict[str, Any]]:
    return [
        {"order": orders.public(order), "lines": store.order_lines[order_id]}
        for order_id, order in sorted(store.orders.items())
    ]


@bp.get("/_sim/stores/<store_hash>")
def store_page(store_hash: str) -> str:
    with sim().lock:
        store = sim().store(store_hash)
        context = {
            "store": store.public(),
            "products": _product_rows(store),
            "orders": _order_rows(store),
            "hooks": list(store.hooks.values()),
        }
    return render_template("bcsim_store.html", **context)


# -- buttons for a person running the demo (form posts; each redirects back to the page) -------


def _back(store_hash: str) -> Response:
    return redirect(url_for("bc_pages.store_page", store_hash=store_hash), code=303)


@bp.post("/_sim/stores/<store_hash>/shop")
def shop(store_hash: str) -> Response:
    """A shopper buys one product (as checkout would: stock lowered, webhooks fired)."""
    state = sim()
    body = {
        "email": request.form.get("email") or "shopper@example.com",
        "products": [
            {
                "product_id": int(request.form["product_id"]),
                "quantity": int(request.form.get("quantity", "1")),
            }
        ],
    }
    if request.form.get("variant_id"):  # a size/colour of a product with variants
        body["products"][0]["variant_id"] = int(request.form["variant_id"])
    with state.lock:
        store = state.store(store_hash)
        try:
            orders.create_order(state, store, orders.checkout_body(store, body))
        except ApiError as error:
            return Response(f"Checkout refused: {error.v2_body()}", status=error.status)
    return _back(store_hash)


@bp.post("/_sim/stores/<store_hash>/orders/<int:order_id>/merchant-action")
def merchant_action(store_hash: str, order_id: int) -> Response:
    """The merchant cancels an order or refunds it in full from the control panel."""
    state = sim()
    action = request.form.get("action")
    with state.lock:
        store = state.store(store_hash)
        if action == "cancel":
            orders.set_status(state, store, order_id, 5)
        elif action == "refund":
            items = [
                {"order_product_id": line["id"], "quantity": line["quantity"]}
                for line in store.order_lines[order_id]
                if line["quantity"] > (line.get("quantity_refunded") or 0)
            ]
            if items:
                orders.refund(state, store, order_id, items)
    return _back(store_hash)


@bp.get("/_sim/stores/<store_hash>/control-panel")
def control_panel(store_hash: str) -> str:
    """Our app opened inside the control panel's iframe, as BigCommerce shows it."""
    with sim().lock:
        store = sim().store(store_hash).public()
        app_src = sim().load_url(store_hash, None, None)
    return render_template("bcsim_control_panel.html", store=store, app_src=app_src)
