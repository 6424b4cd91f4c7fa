"""Plain HTML pages of the simulator (what a merchant sees in the Bindo back office)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from sandbox.bindo.images import png_for
from sandbox.bindo.state import SimState

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
        orders = state.orders(store_id)
        customers = state.customers(store_id)
        hooks = state.list_webhooks(store_id)
    return render_template(
        "bindo_store.html",
        store_id=store_id,
        products=products,
        locations=locations,
        stock=stock,
        orders=orders,
        customers=customers,
        hooks=hooks,
    )


@bp.get("/images/<int:image_id>.png")
def image(image_id: int):
    return current_app.response_class(
        png_for(image_id), mimetype="image/png", headers={"Cache-Control": "max-age=3600"}
    )
