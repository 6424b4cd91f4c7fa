"""Order test helpers: shopper orders in the BigCommerce simulator, hooks to the portal."""

from __future__ import annotations

from typing import Any

from portal.models import Merchant
from worker.context import bc_client


def place_order(
    stack,
    store_hash: str,
    products: list[dict[str, Any]],
    *,
    email: str | None = "shopper@example.com",
    status_id: int = 11,
) -> int:
    """A shopper order (straight into the simulator's state, as its checkout helper does)."""
    from sandbox.bigcommerce import orders

    state = stack.bc
    with state.lock:
        store = state.store(store_hash)
        body = orders.checkout_body(store, {"products": products, "status_id": status_id})
        if email is None:
            body["billing_address"]["email"] = ""
            body["shipping_addresses"][0]["email"] = ""
        else:
            body["billing_address"]["email"] = email
        return orders.create_order(state, store, body)["id"]


def set_status(stack, store_hash: str, order_id: int, status_id: int) -> None:
    from sandbox.bigcommerce import orders

    with stack.bc.lock:
        orders.set_status(stack.bc, stack.bc.store(store_hash), order_id, status_id)


def refund(stack, store_hash: str, order_id: int, items: list[tuple[int, int]]) -> None:
    """Refund (order_product_id, quantity) pairs in BigCommerce."""
    from sandbox.bigcommerce import orders

    body = [{"order_product_id": line, "quantity": qty} for line, qty in items]
    with stack.bc.lock:
        orders.refund(stack.bc, stack.bc.store(store_hash), order_id, body)


def order_lines(stack, store_hash: str, order_id: int) -> list[dict[str, Any]]:
    with stack.bc.lock:
        return [dict(line) for line in stack.bc.store(store_hash).order_lines[order_id]]


def subscribe_orders(stack, merchant: Merchant, scopes: tuple[str, ...]) -> None:
    """Hooks in the BigCommerce simulator pointing at the served portal."""
    client = bc_client(merchant)
    for scope in scopes:
        client.create_hook(
            scope,
            f"{stack.portal_url}/webhooks/bigcommerce",
            {"X-Bindo-Hook-Secret": merchant.hook_secret},
        )
