"""Importing one order into Bindo, and following it (in-process, simulators over HTTP)."""

from __future__ import annotations

from decimal import Decimal

from portal.extensions import db
from portal.models import Alert, ImportedOrder, JobRecord
from portal.queue import HIGH, TIMEOUTS
from tests.orders.helpers import order_lines, place_order, refund, set_status
from tests.stock.helpers import BINDO_LOCATION, bc_product, bindo_qty, bound_product
from worker.sync import orders


def row_of(merchant, order_id: int) -> ImportedOrder:
    return (
        db.session.query(ImportedOrder)
        .filter_by(merchant_id=merchant.id, bc_order_id=order_id)
        .one()
    )


def bindo_orders(stack, merchant) -> list[dict]:
    return stack.bindo.orders(merchant.bindo_store_id)


def test_order_is_imported_once_and_lowers_bindo_stock_once(stack):
    m = stack.linked_merchant("ord1")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    oid = place_order(stack, "ord1", [{"product_id": b.bc_product_id, "quantity": 2}])
    assert orders.import_order(m, oid) == "imported"
    assert orders.import_order(m, oid) == "imported"
    (bindo_order,) = bindo_orders(stack, m)
    assert bindo_order["external_reference"] == f"bc-ord1-{oid}"
    assert bindo_order["status"] == "unfulfilled" and bindo_order["payment_status"] == "paid"
    assert bindo_order["location_id"] == BINDO_LOCATION
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(3)
    row = row_of(m, oid)
    assert row.bindo_order_id == bindo_order["id"] and row.flags == [] and row.attempts == 2


def test_unknown_product_lines_are_kept_flagged_and_touch_no_stock(stack):
    m = stack.linked_merchant("ord2")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    stranger = bc_product(stack, "ord2", sku="NOT-IN-BINDO")
    with stack.bc.lock:
        stack.bc.store("ord2").products[stranger]["inventory_tracking"] = "none"
    oid = place_order(
        stack,
        "ord2",
        [
            {"product_id": b.bc_product_id, "quantity": 1},
            {"product_id": stranger, "quantity": 1},
            {"name": "Gift wrap", "price_inc_tax": 2, "price_ex_tax": 2, "quantity": 1},
        ],
    )
    orders.import_order(m, oid)
    row = row_of(m, oid)
    assert row.flags == ["unknown_lines"]
    (bindo_order,) = bindo_orders(stack, m)
    unknown = [li for li in bindo_order["line_items"] if li["product_id"] is None]
    assert {li["name"] for li in unknown} == {"Gift wrap", f"P{stranger}"}
    assert {li["sku"] for li in unknown} >= {"NOT-IN-BINDO"}
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(4)


def test_sku_fallback_matches_a_line_to_a_bound_product(stack):
    m = stack.linked_merchant("ord3")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5}, sku="Mug-Blue")
    custom = {"name": "Mug", "sku": "MUG-BLUE", "price_inc_tax": 10, "price_ex_tax": 10}
    oid = place_order(stack, "ord3", [{**custom, "quantity": 2}])
    orders.import_order(m, oid)
    assert row_of(m, oid).flags == []
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(3)


def test_customer_is_reused_by_case_insensitive_email(stack):
    m = stack.linked_merchant("ord4")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 9})
    line = [{"product_id": b.bc_product_id, "quantity": 1}]
    first = place_order(stack, "ord4", line, email="Ann@Example.com")
    second = place_order(stack, "ord4", line, email="ann@example.COM")
    orders.import_order(m, first)
    orders.import_order(m, second)
    (customer,) = stack.bindo.customers(m.bindo_store_id)
    assert row_of(m, first).bindo_customer_id == row_of(m, second).bindo_customer_id
    assert row_of(m, first).bindo_customer_id == customer["id"]
    assert customer["first_name"] == "Sam" and customer["address"]["city"] == "Austin"


def test_customer_created_meanwhile_is_looked_up_after_a_conflict(stack, monkeypatch):
    m = stack.linked_merchant("ord5")
    b = bound_product(stack, m)
    oid = place_order(stack, "ord5", [{"product_id": b.bc_product_id, "quantity": 1}])
    from worker.clients.bindo import BindoClient

    real_find = BindoClient.find_customer_by_email
    calls = []

    def racing_find(self, email):
        calls.append(email)
        if len(calls) == 1:  # another run creates it between our lookup and our create
            stack.bindo.create_customer(m.bindo_store_id, {"email": email})
            return None
        return real_find(self, email)

    monkeypatch.setattr(BindoClient, "find_customer_by_email", racing_find)
    orders.import_order(m, oid)
    (customer,) = stack.bindo.customers(m.bindo_store_id)
    assert row_of(m, oid).bindo_customer_id == customer["id"] and len(calls) == 2


def test_order_without_email_is_imported_without_customer_and_flagged(stack):
    m = stack.linked_merchant("ord6")
    b = bound_product(stack, m)
    oid = place_order(stack, "ord6", [{"product_id": b.bc_product_id, "quantity": 1}], email=None)
    assert orders.import_order(m, oid) == "imported"
    row = row_of(m, oid)
    assert row.flags == ["no_email"] and row.bindo_customer_id is None
    assert bindo_orders(stack, m)[0]["customer_id"] is None
    assert stack.bindo.customers(m.bindo_store_id) == []


def test_incomplete_order_waits_until_its_status_changes(stack):
    m = stack.linked_merchant("ord7")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    oid = place_order(stack, "ord7", [{"product_id": b.bc_product_id, "quantity": 1}], status_id=0)
    assert orders.import_order(m, oid) == "waiting"
    assert row_of(m, oid).bc_status_id == 0 and bindo_orders(stack, m) == []
    set_status(stack, "ord7", oid, 11)
    assert orders.import_order(m, oid) == "imported"
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(4)


def test_cancel_restocks_exactly_once_when_the_job_runs_twice(stack):
    m = stack.linked_merchant("ord8")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    oid = place_order(stack, "ord8", [{"product_id": b.bc_product_id, "quantity": 3}])
    orders.import_order(m, oid)
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(2)
    set_status(stack, "ord8", oid, 5)
    assert orders.import_order(m, oid) == "cancelled"
    assert orders.import_order(m, oid) == "cancelled"
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(5)
    assert bindo_orders(stack, m)[0]["status"] == "cancelled"


def test_order_cancelled_before_import_is_never_created(stack):
    m = stack.linked_merchant("ord9")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    oid = place_order(stack, "ord9", [{"product_id": b.bc_product_id, "quantity": 1}])
    set_status(stack, "ord9", oid, 5)
    assert orders.import_order(m, oid) == "skipped"
    assert bindo_orders(stack, m) == []
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(5)


def test_partial_then_full_refund_restock_exactly_once_each(stack):
    m = stack.linked_merchant("ord10")
    a = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    c = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    oid = place_order(
        stack,
        "ord10",
        [
            {"product_id": a.bc_product_id, "quantity": 3},
            {"product_id": c.bc_product_id, "quantity": 1},
        ],
    )
    orders.import_order(m, oid)
    line_a, line_c = order_lines(stack, "ord10", oid)
    refund(stack, "ord10", oid, [(line_a["id"], 1)])
    assert orders.import_order(m, oid) == "partially_refunded"
    assert orders.import_order(m, oid) == "partially_refunded"
    assert bindo_qty(stack, m, a.bindo_product_id) == Decimal(8)
    refund(stack, "ord10", oid, [(line_a["id"], 2), (line_c["id"], 1)])
    assert orders.import_order(m, oid) == "refunded"
    assert orders.import_order(m, oid) == "refunded"
    assert bindo_qty(stack, m, a.bindo_product_id) == Decimal(10)
    assert bindo_qty(stack, m, c.bindo_product_id) == Decimal(10)
    refunds = bindo_orders(stack, m)[0]["refunds"]
    assert len(refunds) == 2 and len({r["reference"] for r in refunds}) == 2


def test_a_refund_retried_after_a_crash_reuses_its_reference(stack, monkeypatch):
    m = stack.linked_merchant("ord11")
    a = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    oid = place_order(stack, "ord11", [{"product_id": a.bc_product_id, "quantity": 2}])
    orders.import_order(m, oid)
    refund(stack, "ord11", oid, [(order_lines(stack, "ord11", oid)[0]["id"], 1)])
    from worker.clients.bindo import BindoClient

    real_get = BindoClient.get_order
    monkeypatch.setattr(  # Bindo's answer lost: the run still sees nothing refunded
        BindoClient,
        "get_order",
        lambda self, i: {
            **real_get(self, i),
            "line_items": [
                {**li, "refunded_quantity": 0} for li in real_get(self, i)["line_items"]
            ],
        },
    )
    orders.import_order(m, oid)
    orders.import_order(m, oid)
    (bindo_order,) = bindo_orders(stack, m)
    assert len(bindo_order["refunds"]) == 1
    assert bindo_qty(stack, m, a.bindo_product_id) == Decimal(9)


def test_map_mode_imports_at_the_location_mapped_to_the_bc_location(stack):
    locations = [{"id": 10, "name": "Main"}, {"id": 11, "name": "Web"}]
    m = stack.linked_merchant(
        "ord12", locations=locations, location_mode="map", location_map={"10": 2, "11": 1}
    )
    b = bound_product(stack, m, stock={10: 5, 11: 5})
    oid = place_order(stack, "ord12", [{"product_id": b.bc_product_id, "quantity": 1}])
    orders.import_order(m, oid)
    assert bindo_orders(stack, m)[0]["location_id"] == 11


def test_sweep_imports_orders_whose_webhooks_were_dropped_and_revives_hooks(stack):
    from tests.orders.helpers import subscribe_orders

    m = stack.linked_merchant("ord13")
    subscribe_orders(stack, m, ("store/order/created",))
    stack.bc.set_webhook_faults(drop_ratio=1.0)
    b = bound_product(stack, m, stock={BINDO_LOCATION: 50})
    ids = [
        place_order(stack, "ord13", [{"product_id": b.bc_product_id, "quantity": 1}])
        for _ in range(5)
    ]
    with stack.bc.lock:
        for hook in stack.bc.store("ord13").hooks.values():
            hook["is_active"] = False
    counts = orders.sweep_orders(m)
    assert counts["enqueued"] == 5 and counts["hooks_reactivated"] == 1
    jobs = {j.args[1] for j in db.session.query(JobRecord).filter_by(func=orders.IMPORT_JOB)}
    assert jobs == set(ids)
    for oid in ids:  # what the workers would do with the enqueued jobs
        orders.import_order(m, oid)
    assert len(bindo_orders(stack, m)) == 5
    assert all(h["is_active"] for h in stack.bc.store("ord13").hooks.values())
    assert db.session.query(Alert).filter_by(kind="webhook_deactivated").count() == 1
    db.session.refresh(m)
    assert m.last_order_sweep_at is not None
    assert orders.sweep_orders(m)["enqueued"] == 0  # nothing new, nothing changed


def test_order_event_enqueues_a_deterministic_high_priority_import(stack):
    from portal.models import WebhookEvent

    m = stack.linked_merchant("ord14")
    event = WebhookEvent(payload={"data": {"type": "order", "id": 42}})
    orders.on_order_event(event, m)
    orders.on_order_event(event, m)
    (job,) = db.session.query(JobRecord).filter_by(func=orders.IMPORT_JOB).all()
    assert job.job_id.startswith("order-ord14-42-") and job.queue == "high"
    assert job.args == [m.id, 42]


def test_periodic_checks_enqueue_one_sweep_and_one_reconcile_per_interval(stack):
    from worker.sync import stock

    m = stack.linked_merchant("ord15")
    orders.enqueue_due_order_sweeps()
    stock.enqueue_due_stock_reconciles()
    orders.enqueue_due_order_sweeps()  # claimed for this interval: not again
    funcs = sorted(j.func for j in db.session.query(JobRecord).filter_by(merchant_id=m.id))
    assert funcs == [orders.SWEEP_JOB, stock.RECONCILE_JOB]


def test_a_busy_order_is_retried_later_instead_of_holding_the_worker(app, redis_conn):
    """A run that finds the order locked (another run, or a killed one) gives up in seconds
    with a retryable error, so RQ tries again later and the worker moves on."""
    import time

    import pytest

    from portal.models import Merchant
    from worker.clients.errors import RetryableError
    from worker.sync import orders

    merchant = Merchant(store_hash="busy1")
    app.extensions["redis"] = redis_conn
    redis_conn.set(f"bc:order-lock:{merchant.id}:77", "someone-else", ex=60)
    started = time.monotonic()
    with pytest.raises(RetryableError, match="being imported by another run"):  # noqa: SIM117
        with orders.order_lock(merchant, 77):
            pass
    assert time.monotonic() - started < orders.ORDER_LOCK_WAIT_SECONDS + 2
    assert app.config["ORDER_LOCK_SECONDS"] < TIMEOUTS[HIGH]  # expires before the job would


def test_unpaid_orders_wait_and_are_imported_when_their_status_moves_on(stack):
    # Issue 15 item 3: 1 Pending, 7 Awaiting Payment, 12 Manual Verification, 13 Disputed are
    # not sales yet; they must not lower Bindo stock until BigCommerce marks them paid.
    m = stack.linked_merchant("ord30")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    ids = {
        status: place_order(
            stack, "ord30", [{"product_id": b.bc_product_id, "quantity": 1}], status_id=status
        )
        for status in (1, 7, 12, 13)
    }
    for oid in ids.values():
        assert orders.import_order(m, oid) == "waiting"
    assert bindo_orders(stack, m) == []
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(10)
    set_status(stack, "ord30", ids[7], 11)  # payment captured
    set_status(stack, "ord30", ids[12], 9)  # verified
    assert orders.needs_import(m, {"id": ids[7], "status_id": 11})  # the sweep would see it
    assert orders.import_order(m, ids[7]) == "imported"
    assert orders.import_order(m, ids[12]) == "imported"
    assert orders.import_order(m, ids[1]) == "waiting"
    assert len(bindo_orders(stack, m)) == 2
    assert bindo_qty(stack, m, b.bindo_product_id) == Decimal(8)


def test_bindo_order_totals_equal_bigcommerce_to_the_cent(stack):
    # Issue 15 item 4: the checkout adds shipping ($5), 8.25% tax and a $2 coupon.
    m = stack.linked_merchant("ord31")
    a = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    c = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    oid = place_order(
        stack,
        "ord31",
        [
            {"product_id": a.bc_product_id, "quantity": 3, "price_inc_tax": "3.33"},
            {"product_id": c.bc_product_id, "quantity": 1},
        ],
    )
    assert orders.import_order(m, oid) == "imported"
    with stack.bc.lock:
        bc_order = dict(stack.bc.store("ord31").orders[oid])
    (bindo_order,) = bindo_orders(stack, m)
    assert Decimal(bindo_order["total"]) == Decimal(bc_order["total_inc_tax"])
    assert Decimal(bindo_order["shipping_total"]) == Decimal("5.00")
    assert Decimal(bindo_order["tax_total"]) == Decimal(bc_order["total_tax"]) > 0
    assert Decimal(bindo_order["subtotal"]) == Decimal("19.99")
    assert bindo_order["discounts"] == [{"type": "coupon", "code": "SAVE2", "amount": "2.00"}]
    assert Decimal(bindo_order["discount_total"]) == Decimal("2.00")
    assert bindo_order["payment_method"] == "Test Payment Gateway"
    assert bindo_order["adjustment_total"] == "0.00"
    assert row_of(m, oid).total == bindo_order["total"]


def test_every_partial_refund_reaches_bindo_exactly_once(stack):
    # Issue 15 item 5: after the first partial refund the status stays 14, so no
    # statusUpdated fires for the second; refund/created and the sweep's amount check do.
    m = stack.linked_merchant("ord32")
    a = bound_product(stack, m, stock={BINDO_LOCATION: 10})
    oid = place_order(stack, "ord32", [{"product_id": a.bc_product_id, "quantity": 4}])
    assert orders.import_order(m, oid) == "imported"
    (line,) = order_lines(stack, "ord32", oid)
    refund(stack, "ord32", oid, [(line["id"], 1)])
    assert orders.import_order(m, oid) == "partially_refunded"
    swept = {
        "id": oid,
        "status_id": 14,
        "refunded_amount": stack.bc.store("ord32").orders[oid]["refunded_amount"],
    }
    assert not orders.needs_import(m, swept)
    refund(stack, "ord32", oid, [(line["id"], 1)])  # status stays 14
    from sandbox.bigcommerce import orders as bc_orders

    with stack.bc.lock:  # and a goodwill refund of money only
        bc_orders.refund(stack.bc, stack.bc.store("ord32"), oid, [{"amount": "1.50"}])
        bc_order = dict(stack.bc.store("ord32").orders[oid])
    assert bc_order["status_id"] == 14
    assert orders.needs_import(m, bc_order)  # the sweep sees the refunded amount move
    for _ in range(2):  # a replayed webhook or a second sweep changes nothing
        assert orders.import_order(m, oid) == "partially_refunded"
    (bindo_order,) = bindo_orders(stack, m)
    refunds = bindo_order["refunds"]
    assert len(refunds) == 3 and len({r["reference"] for r in refunds}) == 3
    assert sum(Decimal(r["amount"]) for r in refunds) == Decimal(bc_order["refunded_amount"])
    assert bindo_qty(stack, m, a.bindo_product_id) == Decimal(8)  # 10 - 4 + 2 restocked
    assert not orders.needs_import(m, bc_order)


def test_refund_created_is_subscribed_and_enqueues_the_import(stack):
    from worker.lifecycle import BC_SCOPES

    assert "store/order/refund/created" in BC_SCOPES
    assert "store/order/refund/created" in orders.ORDER_SCOPES


def test_an_import_that_would_wait_for_the_quota_is_deferred_not_failed(stack):
    """The store's quota is spent for longer than QUOTA_WAIT_SECONDS: the job gives up its
    worker (QuotaSpent, deferred by worker/runtime.py) and the order is not marked failed."""
    import pytest

    from portal.queue import redis_conn
    from tests.stock.helpers import spend_quota
    from worker.clients.errors import QuotaSpent
    from worker.jobs import orders as order_jobs

    m = stack.linked_merchant("ordquota")
    b = bound_product(stack, m, stock={BINDO_LOCATION: 5})
    oid = place_order(stack, "ordquota", [{"product_id": b.bc_product_id, "quantity": 1}])
    spend_quota(m.store_hash, 20_000)
    with pytest.raises(QuotaSpent) as info:
        order_jobs.import_order(m.id, oid)  # outside RQ, the deferral surfaces as the error
    assert 19 < info.value.retry_after <= 20.5
    db.session.expire_all()
    assert db.session.query(ImportedOrder).filter_by(merchant_id=m.id).count() == 0
    assert bindo_orders(stack, m) == []
    redis_conn().delete(f"bc:rate:{m.store_hash}")  # the window refills
    assert order_jobs.import_order(m.id, oid) == "imported"
    assert len(bindo_orders(stack, m)) == 1
