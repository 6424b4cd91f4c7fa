"""Scenarios with real workers: webhook deliveries over HTTP -> portal inbox -> RQ -> Bindo.

Sizes are small by default; FULL_SCENARIOS=1 runs the full ones (T04: 500 orders).
"""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest

from portal.extensions import db
from portal.models import ImportedOrder
from tests.conftest import wait_for
from tests.orders.helpers import place_order, subscribe_orders
from tests.stock.helpers import BINDO_LOCATION, bc_level, bindo_qty, bound_product

FULL = os.environ.get("FULL_SCENARIOS") == "1"
ORDERS = 500 if FULL else 25
ORDER_SCOPES = ("store/order/created", "store/order/statusUpdated")


def imported_count(merchant_id: int) -> int:
    db.session.expire_all()
    return (
        db.session.query(ImportedOrder).filter_by(merchant_id=merchant_id, state="imported").count()
    )


@pytest.mark.slow
def test_each_order_delivered_three_times_is_imported_exactly_once(stack, worker_process):
    m = stack.linked_merchant("scn1")
    subscribe_orders(stack, m, ORDER_SCOPES)
    products = [bound_product(stack, m, stock={BINDO_LOCATION: 10_000}) for _ in range(3)]
    stack.bc.set_webhook_faults(duplicates=2)  # every event sent 3 times, copies concurrently
    worker_process("--no-ticker")
    worker_process("--no-ticker")
    expected = {p.bindo_product_id: 0 for p in products}
    started = time.monotonic()
    for n in range(ORDERS):
        product = products[n % 3]
        qty = 1 + n % 2
        place_order(stack, "scn1", [{"product_id": product.bc_product_id, "quantity": qty}])
        expected[product.bindo_product_id] += qty
    stack.bc.wait_deliveries(timeout=60)
    # ~2,000 jobs at full size on SQLite take minutes; the timeout scales with N.
    wait_for(lambda: imported_count(m.id) == ORDERS, timeout=60 + 1.2 * ORDERS, interval=0.5)
    elapsed = time.monotonic() - started
    bindo_orders = stack.bindo.orders(m.bindo_store_id)
    assert len(bindo_orders) == ORDERS
    assert len({o["external_reference"] for o in bindo_orders}) == ORDERS
    for product in products:
        sold = expected[product.bindo_product_id]
        assert bindo_qty(stack, m, product.bindo_product_id) == Decimal(10_000 - sold)
    deliveries = [d for d in stack.bc.deliveries if d.get("status") == 200]
    print(f"\n{ORDERS} orders, {len(deliveries)} deliveries -> Bindo orders in {elapsed:.1f}s")


def test_bindo_stock_change_reaches_bigcommerce_end_to_end(stack, worker_process):
    m = stack.linked_merchant("scn2")
    product = bound_product(stack, m, stock={BINDO_LOCATION: 8})
    stack.bindo.subscribe(
        m.bindo_store_id, f"{stack.portal_url}/webhooks/bindo/{m.id}", ["inventory.updated"]
    )
    worker_process("--no-ticker")
    started = time.monotonic()
    stack.bindo.sell_in_store(
        m.bindo_store_id, BINDO_LOCATION, [{"product_id": product.bindo_product_id, "quantity": 3}]
    )
    wait_for(lambda: bc_level(stack, "scn2", product.bc_product_id) == 5, timeout=30, interval=0.05)
    print(f"\nBindo in-store sale -> BigCommerce level in {time.monotonic() - started:.2f}s")
    stack.bindo.set_stock(m.bindo_store_id, product.bindo_product_id, BINDO_LOCATION, "-2.5")
    wait_for(lambda: bc_level(stack, "scn2", product.bc_product_id) == 0, timeout=30, interval=0.05)
