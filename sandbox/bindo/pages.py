"""Plain HTML pages of the simulator (what a merchant sees in the Bindo back office)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from sandbox.bindo.images import png_for
from sandbox.bindo.state import SimError, SimState

bp = Blueprint("bindo_pages", __name__, template_folder="templates")


def sim() -> SimState:
    return current_app.extensions["bindosim"]


@bp.get("/")
def index() -> str:
    state = sim()
    with state.lock:
        stores = [state.describe_store(sid) for sid in sorted(state.stores)]
        counts = {sid: len(s.products) for sid, s in state.stores.items()}
    return render_template("bindo_index.html", stores=stores, counts=counts)


@bp.get("/_sim/stores/<store_id>")
def store_page(store_id: str) -> str:
    state = sim()
    with state.lock:
        store = state.stores.get(store_id)
        if store is None:
            abort(404)
        base = state.public_url or request.host_url
        products = [state.render_product(p, base) for _, p in sorted(store.products.items())]
        locations = list(store.locations.values())
        stock = {(pid, loc): qty for (pid, loc), qty in store.stock.items()}
        variant_stock = dict(store.variant_stock)
        orders = state.orders(store_id)
        customers = state.customers(store_id)
        hooks = state.list_webhooks(store_id)
    return render_template(
        "bindo_store.html",
        store_id=store_id,
        products=products,
        locations=locations,
        stock=stock,
        variant_stock=variant_stock,
        orders=orders,
        customers=customers,
        hooks=hooks,
    )


@bp.get("/images/<int:image_id>.png")
def image(image_id: int):
    return current_app.response_class(
        png_for(image_id), mimetype="image/png", headers={"Cache-Control": "max-age=3600"}
    )


# -- back-office buttons for a person running the demo (form posts; each redirects back) -------


@bp.errorhandler(SimError)
def _refused(exc: SimError) -> tuple[str, int]:
    """A back-office form the store refuses: say why in plain text, not a 500."""
    return f"{exc.status} {exc.code}: {exc.message}", exc.status


def _back(store_id: str) -> Response:
    return redirect(url_for("bindo_pages.store_page", store_id=store_id), code=303)


def _with_weight(attributes: list[dict[str, Any]], weight: str) -> list[dict[str, Any]]:
    kept = [a for a in attributes if str(a.get("name", "")).strip().lower() != "weight"]
    return [*kept, {"name": "Weight", "value": weight}] if weight.strip() else kept


@bp.post("/_sim/stores/<store_id>/products/<int:product_id>/back-office")
def back_office(store_id: str, product_id: int) -> Response:
    """What a merchant does at the till or in the back office; each fires its webhooks."""
    state = sim()
    action = request.form.get("action", "")
    location = int(request.form.get("location_id") or 0)
    if action == "set_stock":
        state.set_stock(store_id, product_id, location, request.form.get("quantity", "0"))
    elif action == "sell":
        state.sell_in_store(store_id, location, [{"product_id": product_id, "quantity": 1}])
    elif action == "edit":
        product = state.get_product(store_id, product_id)
        fields: dict[str, Any] = {}
        if request.form.get("price"):
            fields["price"] = request.form["price"]
        if "weight" in request.form:
            fields["custom_attributes"] = _with_weight(
                product.get("custom_attributes") or [], request.form["weight"]
            )
        state.update_product(store_id, product_id, **fields)
    elif action == "reorder_images":
        order = [i for i in request.form.get("image_order", "").replace(",", " ").split() if i]
        state.reorder_images(store_id, product_id, order)
    elif action == "toggle_in_store_only":
        product = state.get_product(store_id, product_id)
        state.set_in_store_only(store_id, product_id, not product.get("in_store_only"))
    elif action == "delete":
        state.delete_product(store_id, product_id)
    else:
        abort(400)
    return _back(store_id)
