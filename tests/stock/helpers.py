"""Test helpers for stock and orders: products in both simulators, bindings, inbox draining."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from portal.extensions import db
from portal.models import Merchant, ProductBinding, WebhookEvent

BINDO_LOCATION = 10


def bc_product(stack, store_hash: str, *, sku: str = "", tracking: str = "product") -> int:
    """A product created straight in the BigCommerce simulator's state; returns its id."""
    from sandbox.bigcommerce import catalog

    state = stack.bc
    with state.lock:
        store = state.store(store_hash)
        product = catalog.new_product(state, {})
        product.update(name=f"P{product['id']}", sku=sku, price=10, inventory_tracking=tracking)
        product["inventory_level"] = 1000  # plenty, so shoppers can order before any push
        store.products[product["id"]] = product
        store.stock[(product["id"], 1)] = 1000
        return product["id"]


def bound_product(
    stack, merchant: Merchant, *, stock: dict[int, Any] | None = None, sku: str | None = None
) -> ProductBinding:
    """One product in both simulators, bound like the catalog engine would bind it."""
    bindo = stack.bindo.create_product(
        merchant.bindo_store_id,
        name="Mug",
        price="10.00",
        sku=sku,
        image_count=0,
        stock=stock if stock is not None else {BINDO_LOCATION: 5},
    )
    bc_id = bc_product(stack, merchant.store_hash, sku=sku or "")
    binding = ProductBinding(
        merchant_id=merchant.id,
        bindo_product_id=bindo["id"],
        bc_product_id=bc_id,
        sku=sku,
        stock_pushed={},
    )
    db.session.add(binding)
    db.session.commit()
    return binding


def many_bound_products(stack, merchant: Merchant, count: int, quantity: int = 3) -> list[int]:
    """``count`` bound products with stock, fast: simulator state and one bulk insert."""
    from sandbox.bigcommerce import catalog

    bindo_state, bc_state = stack.bindo, stack.bc
    rows = []
    with bindo_state.lock, bc_state.lock:
        store = bc_state.store(merchant.store_hash)
        bindo_store = bindo_state.store(merchant.bindo_store_id)
        for n in range(count):
            product = catalog.new_product(bc_state, {})
            product.update(name=f"P{n}", sku=f"SKU{n}", inventory_tracking="product")
            store.products[product["id"]] = product
            store.stock[(product["id"], 1)] = 0
            bindo_id = bindo_state._next("product")
            bindo_store.products[bindo_id] = {
                "id": bindo_id,
                "name": f"P{n}",
                "deleted": False,
                "in_store_only": False,
            }
            bindo_store.stock[(bindo_id, BINDO_LOCATION)] = Decimal(quantity)
            rows.append(
                {
                    "merchant_id": merchant.id,
                    "bindo_product_id": bindo_id,
                    "bc_product_id": product["id"],
                    "stock_pushed": {},
                    "image_map": {},
                    "sync_state": "synced",
                    "attempts": 0,
                }
            )
    db.session.execute(insert(ProductBinding), rows)
    db.session.commit()
    return [r["bindo_product_id"] for r in rows]


def bc_level(stack, store_hash: str, product_id: int, location_id: int = 1) -> int:
    with stack.bc.lock:
        return stack.bc.store(store_hash).stock.get((product_id, location_id), 0)


def bindo_qty(stack, merchant: Merchant, product_id: int) -> Decimal:
    return stack.bindo.get_stock(merchant.bindo_store_id, product_id, BINDO_LOCATION)


def inbox_installed() -> bool:
    """Whether the inbox dispatcher (another engineer's worker/inbox.py) is present."""
    return importlib.util.find_spec("worker.inbox") is not None


def drain_inbox(handlers: dict[str, Any]) -> int:
    """Stand-in for the inbox dispatcher: call our handler for each stored event, once.

    Used only while worker/inbox.py is not installed; the rows' unique keys already dropped
    duplicate deliveries, exactly as the real dispatcher relies on.
    """
    count = 0
    rows = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.state == "received").order_by(WebhookEvent.id)
    ).all()
    for event in rows:
        handler = handlers.get(event.scope)
        if handler is not None:
            merchant = db.session.get(Merchant, event.merchant_id)
            handler(event, merchant)
            count += 1
        event.state = "processed"
        db.session.commit()
    return count


def spend_quota(store_hash: str, refill_ms: int) -> None:
    """Make our pacer see the store's quota spent until ``refill_ms`` from now (as the
    rate headers of a response that used the last request of the window would)."""
    from portal.queue import redis_conn
    from worker.clients.pacing import RatePacer

    pacer = RatePacer(redis_conn())
    pacer.before_request(store_hash)
    spent = {
        "X-Rate-Limit-Requests-Left": "0",
        "X-Rate-Limit-Requests-Quota": "150",
        "X-Rate-Limit-Time-Reset-Ms": str(refill_ms),
        "X-Rate-Limit-Time-Window-Ms": "30000",
    }
    pacer.after_response(store_hash, 200, spent)
