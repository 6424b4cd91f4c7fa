"""Orders converge on BigCommerce's state whatever the webhooks do (T05, T06, T32).

T05: many orders, each created then changed (shipped, refunded in one or two steps,
cancelled); the simulator's events are captured, randomly permuted and then delivered by the
simulator itself (signed, over HTTP) to the served portal while two real workers run.
T06: two genuine changes of one order announced by byte-identical payloads, the second while
the import of the first is in flight. T32: the simulator drops a share of webhooks and a hook
is deactivated for a while; one sweep imports the rest and re-activates the hook.
"""

from __future__ import annotations

import copy
import json
import random
import time

import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ImportedOrder, JobRecord, WebhookEvent
from tests.conftest import wait_for
from tests.orders.helpers import order_lines, place_order, refund, set_status, subscribe_orders
from tests.reliability.conftest import post_bc_event, size
from tests.stock.helpers import BINDO_LOCATION, bound_product

ALL_ORDER_SCOPES = (
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/refund/created",
)
# Expected ImportedOrder.state for each final BigCommerce status reached below.
FINAL_ROW_STATE = {11: "imported", 2: "imported", 14: "partially_refunded", 4: "refunded"}


def rows(merchant_id: int) -> dict[int, ImportedOrder]:
    db.session.expire_all()
    found = db.session.scalars(
        select(ImportedOrder).where(ImportedOrder.merchant_id == merchant_id)
    )
    return {r.bc_order_id: r for r in found}


def bc_order(stack, store_hash: str, order_id: int) -> dict:
    with stack.bc.lock:
        return dict(stack.bc.store(store_hash).orders[order_id])


def bindo_by_ref(stack, m) -> dict[str, dict]:
    orders = stack.bindo.orders(m.bindo_store_id)
    refs = [o["external_reference"] for o in orders]
    assert len(refs) == len(set(refs)), "duplicate Bindo orders"
    return {o["external_reference"]: o for o in orders}


def converged(stack, m, order_ids: list[int]) -> list[str]:
    """Every order's row and Bindo order match BigCommerce's current state; the mismatches."""
    from shared.mapping import external_reference

    current = rows(m.id)
    bindo = bindo_by_ref(stack, m)
    wrong = []
    for oid in order_ids:
        order, lines = bc_order(stack, m.store_hash, oid), order_lines(stack, m.store_hash, oid)
        row, ref = current.get(oid), external_reference(m.store_hash, oid)
        status = int(order["status_id"])
        if row is None or row.bc_status_id != status:
            wrong.append(f"{oid}: row {row and (row.state, row.bc_status_id)} vs status {status}")
            continue
        if status == 5:  # cancelled before any import saw it: never sold in Bindo
            if row.state != "skipped" or ref in bindo:
                wrong.append(f"{oid}: cancelled, row {row.state}, in Bindo {ref in bindo}")
            continue
        if row.state != FINAL_ROW_STATE[status] or ref not in bindo:
            wrong.append(f"{oid}: row {row.state} for status {status}, in Bindo {ref in bindo}")
            continue
        refunded = {
            str(li["external_line_id"]): li["refunded_quantity"] for li in bindo[ref]["line_items"]
        }
        expected = {str(line["id"]): int(line["quantity_refunded"]) for line in lines}
        if refunded != expected:
            wrong.append(f"{oid}: Bindo refunded {refunded} vs BigCommerce {expected}")
    return wrong


def capture_fired(stack) -> tuple[list[tuple], object]:
    """Hold back every event the simulator fires; returns (held, the real fire)."""
    dispatcher = stack.bc.dispatcher
    real_fire = dispatcher.fire
    held: list[tuple] = []

    def hold(store_hash, store_id, scope, data, hooks):
        held.append((store_hash, store_id, scope, copy.deepcopy(data), hooks))
        return f"held-{len(held)}"

    dispatcher.fire = hold
    return held, real_fire


def test_t05_randomly_permuted_order_events_converge_on_bigcommerce_state(stack, worker_process):
    orders = size(20, 200)
    rng = random.Random(5)
    m = stack.linked_merchant("rel05")
    subscribe_orders(stack, m, ALL_ORDER_SCOPES)
    mug = bound_product(stack, m, stock={BINDO_LOCATION: 100_000})
    cup = bound_product(stack, m, stock={BINDO_LOCATION: 100_000})
    held, real_fire = capture_fired(stack)
    paths = ("none", "ship", "partial", "partial+rest", "cancel", "ship+partial")
    taken: dict[str, int] = {}
    order_ids = []
    for _ in range(orders):
        lines = [
            {"product_id": mug.bc_product_id, "quantity": 2},
            {"product_id": cup.bc_product_id, "quantity": 3},
        ]
        oid = place_order(stack, "rel05", lines)
        order_ids.append(oid)
        first, second = (line["id"] for line in order_lines(stack, "rel05", oid))
        path = rng.choice(paths)
        taken[path] = taken.get(path, 0) + 1
        if path.startswith("ship"):
            set_status(stack, "rel05", oid, 2)
        if "partial" in path:
            refund(stack, "rel05", oid, [(first, 1)])
        if path.endswith("+rest"):
            refund(stack, "rel05", oid, [(first, 1), (second, 3)])
        if path == "cancel":
            set_status(stack, "rel05", oid, 5)
    stack.bc.dispatcher.fire = real_fire
    # Only order events reach the portal (hooks exist for those scopes alone).
    permutation = [event for event in held if event[2] in ALL_ORDER_SCOPES]
    rng.shuffle(permutation)
    worker_process("--no-ticker")
    worker_process("--no-ticker")
    started = time.monotonic()
    for event in permutation:
        real_fire(*event)
    assert stack.bc.wait_deliveries(timeout=120)
    statuses = {d["status"] for d in stack.bc.deliveries}

    def done():
        db.session.expire_all()
        pending = db.session.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.state.in_(("received", "processing")))
        )
        return pending == 0 and not converged(stack, m, order_ids)

    try:
        wait_for(done, timeout=60 + 2 * orders, interval=0.5)
    finally:
        wrong = converged(stack, m, order_ids)
    by_scope: dict[str, int] = {}
    for event in permutation:
        by_scope[event[2]] = by_scope.get(event[2], 0) + 1
    print(
        f"\nT05: {orders} orders, {len(permutation)} events {by_scope} delivered in a random "
        f"permutation (statuses {statuses}); paths {taken}; converged in "
        f"{time.monotonic() - started:.1f}s; mismatches {len(wrong)}"
    )
    assert statuses == {200}
    assert wrong == []


def test_t06_same_payload_for_two_real_changes_never_suppresses_the_refetch(stack, worker_process):
    m = stack.linked_merchant("rel06")  # no hooks: the test delivers (byte-identical bodies)
    mug = bound_product(stack, m, stock={BINDO_LOCATION: 1000})
    oid = place_order(stack, "rel06", [{"product_id": mug.bc_product_id, "quantity": 3}])
    (line,) = order_lines(stack, "rel06", oid)
    payload = {
        "scope": "store/order/updated",
        "store_id": "1",
        "data": {"type": "order", "id": oid},
        "hash": "same-hash-for-both",
        "created_at": int(time.time()),
        "producer": "stores/rel06",
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    sender = (m.store_hash, m.hook_secret)
    # The first import is slowed inside its Bindo calls, after it has read BigCommerce.
    stack.bindo.inject_api_fault(status=None, delay=1.5, count=2, path_contains="/orders")
    worker_process("--no-ticker")
    set_status(stack, "rel06", oid, 9)  # change 1: Awaiting Shipment
    with requests.Session() as session:
        first = post_bc_event(session, stack.portal_url, sender, "", {}, body=body)

        def import_running():
            db.session.expire_all()
            return db.session.scalar(
                select(JobRecord).where(
                    JobRecord.func == "worker.jobs.orders.import_order",
                    JobRecord.state == "started",
                )
            )

        wait_for(import_running, timeout=30, interval=0.05)
        refund(stack, "rel06", oid, [(line["id"], 1)])  # change 2, same second, same bytes
        second = post_bc_event(session, stack.portal_url, sender, "", {}, body=body)
    assert first[0] == second[0] == 200 and first[2] != second[2]

    def latest():
        row = rows(m.id).get(oid)
        return row is not None and row.state == "partially_refunded" and row.bc_status_id == 14

    wait_for(latest, timeout=60, interval=0.2)
    wrong = converged(stack, m, [oid])
    db.session.expire_all()
    bodies = db.session.scalars(select(WebhookEvent).where(WebhookEvent.merchant_id == m.id)).all()
    print(
        f"\nT06: 2 deliveries with byte-identical bodies ({len(bodies)} inbox rows); second "
        f"change while the first import ran: final row {rows(m.id)[oid].state}, "
        f"mismatches {wrong}"
    )
    assert len(bodies) == 2 and bodies[0].payload == bodies[1].payload
    assert wrong == []


def test_t32_one_sweep_imports_what_dropped_and_deactivated_hooks_missed(stack, worker_process):
    from worker.sync.orders import sweep_orders

    orders = size(20, 200)
    m = stack.linked_merchant("rel32")
    subscribe_orders(stack, m, ("store/order/created",))
    mug = bound_product(stack, m, stock={BINDO_LOCATION: 100_000})
    stack.bc.set_webhook_faults(drop_ratio=0.2, seed=32)
    worker_process("--no-ticker")
    line = [{"product_id": mug.bc_product_id, "quantity": 1}]
    order_ids = [place_order(stack, "rel32", line) for _ in range(orders // 2)]
    hooks = list(stack.bc.store("rel32").hooks)
    for hook_id in hooks:  # BigCommerce gave up on the hook once
        stack.bc._deactivate_hook("rel32", hook_id)
    order_ids += [place_order(stack, "rel32", line) for _ in range(orders - orders // 2)]
    assert stack.bc.wait_deliveries(timeout=60)
    dropped = sum(1 for d in stack.bc.deliveries if d["outcome"] == "dropped")
    delivered = sum(1 for d in stack.bc.deliveries if d["status"] == 200)
    wait_for(lambda: len(rows(m.id)) >= delivered, timeout=60, interval=0.2)
    before = len([r for r in rows(m.id).values() if r.state == "imported"])
    swept = sweep_orders(m)
    wait_for(
        lambda: sum(r.state == "imported" for r in rows(m.id).values()) == orders,
        timeout=60 + orders,
        interval=0.3,
    )
    bindo = bindo_by_ref(stack, m)  # asserts 0 duplicates
    active = [stack.bc.store("rel32").hooks[h]["is_active"] for h in hooks]
    print(
        f"\nT32: {orders} orders, {dropped} webhooks dropped, {orders - orders // 2} placed "
        f"while the hook was deactivated; {before} imported from webhooks, one sweep {swept}, "
        f"then {len(bindo)} Bindo orders (0 duplicates); hooks active again {active}"
    )
    assert before < orders
    assert len(bindo) == orders
    assert swept["hooks_reactivated"] == len(hooks) and all(active)
    assert sorted(rows(m.id)) == sorted(order_ids)
