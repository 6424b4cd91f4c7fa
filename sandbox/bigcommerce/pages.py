"""Plain HTML pages for humans watching a demo (autoescaped Jinja templates)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from . import catalog, orders
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
        rows.append({"product": product, "thumb": thumb, "categories": names})
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
