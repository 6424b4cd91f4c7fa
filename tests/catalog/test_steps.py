"""Resumable catalog runs on real workers, echo webhooks, and locks of dead jobs (issue 14,
issue 18 item 9). The store's quota is made small so a run needs several steps."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord, ProductBinding, SyncRun, WebhookEvent
from portal.queue import LOW, enqueue
from sandbox.bigcommerce.traffic import RateLimiter
from tests.catalog.helpers import bc_product, binding, endpoints, make_category, new_product, push
from tests.conftest import wait_for
from tests.reliability.test_worker_faults import children

QUOTA, WINDOW_MS = 10, 3000  # a step gets at most 8 creates: runs need many steps


def scheduler_pid(worker) -> int:
    """RQ forks its scheduler too: never mistake it for the work horse."""
    import re

    def found():
        match = re.search(r"Scheduler for .* started with PID (\d+)", worker.log_path.read_text())
        return int(match.group(1)) if match else None

    return wait_for(found, timeout=120, interval=0.1)


def small_quota(stack) -> None:
    stack.bc.rate_limiter = RateLimiter(QUOTA, WINDOW_MS)


def start_run(merchant, kind: str = "initial") -> int:
    run = SyncRun(merchant_id=merchant.id, kind=kind)
    db.session.add(run)
    db.session.commit()
    enqueue("worker.jobs.catalog.full_sync", run.id, queue=LOW, merchant_id=merchant.id)
    return run.id


def in_process_run(merchant, kind: str = "initial") -> SyncRun:
    """A started run whose steps the test runs itself (``steps.Step(...).run_once()``)."""
    from worker.sync.catalog import steps

    run = SyncRun(merchant_id=merchant.id, kind=kind)
    db.session.add(run)
    db.session.commit()
    steps.start_run(run)
    return run


def finished(run_id: int, timeout: float = 180) -> SyncRun:
    def done():
        db.session.expire_all()
        row = db.session.get(SyncRun, run_id)
        return row if row.state in ("finished", "failed") else None

    return wait_for(done, timeout=timeout, interval=0.3)


def bc_skus(stack, store_hash: str) -> list[str]:
    with stack.bc.lock:
        return [p["sku"] for p in stack.bc.stores[store_hash].products.values()]


def catalog(stack, store_hash: str, count: int):
    merchant = stack.linked_merchant(store_hash)
    make_category(merchant, "Shoes")
    for i in range(count):
        new_product(stack, merchant, sku=f"{store_hash}-{i}", image_count=0)
    return merchant


def test_a_sync_larger_than_the_quota_finishes_through_continuations(stack, worker_process):
    small_quota(stack)
    merchant = catalog(stack, "steps1", 40)
    worker_process("--no-ticker")

    run = finished(start_run(merchant))

    assert run.state == "finished", run.error
    assert run.counts["created"] == 40 and (run.done, run.total) == (40, 40)
    assert sorted(bc_skus(stack, "steps1")) == sorted(f"steps1-{i}" for i in range(40))
    # 40 creates at 10 per window: many steps, each queued for the next window, none of
    # them sleeping into a 429.
    assert run.steps >= 3
    assert "429" not in stack.bc.request_summary("steps1")["status_counts"]

    def step_records() -> list[JobRecord]:
        db.session.expire_all()
        stmt = select(JobRecord).where(JobRecord.func == "worker.jobs.catalog.continue_run")
        return db.session.scalars(stmt).all()

    # The last step's record says "finished" just after the step has finished the run.
    wait_for(lambda: all(s.state == "finished" for s in step_records()), timeout=30)
    assert len(step_records()) == run.steps - 1


def test_a_small_run_shows_progress_at_least_every_tenth_inside_a_chunk(stack):
    # Issue 17 item 8: 30 products fit one chunk of 50; the run page still moves every 3.
    from sqlalchemy import text

    from worker.sync.catalog import steps

    merchant = catalog(stack, "steps9", 30)
    run = in_process_run(merchant, "initial")
    step = steps.Step(run, merchant, yield_when=lambda: False, seconds=600)
    shown: list[int] = []
    inner = step.engine.progress

    def spy(bindo_id: int) -> None:
        inner(bindo_id)
        with db.engine.connect() as other:  # what the run page reads: committed rows only
            query = text("SELECT done FROM sync_runs WHERE id = :id")
            shown.append(other.execute(query, {"id": run.id}).scalar())

    step.engine.progress = spy
    result = step.run_once()

    assert result.done and run.done == run.total == 30
    assert len(shown) == 30  # one call per create
    steps_seen = [b - a for a, b in zip([0, *shown], shown, strict=False)]
    assert max(steps_seen) <= 3 and shown[-1] >= 27, shown


def test_two_stores_syncing_at_once_take_turns_on_one_worker(stack, worker_process):
    small_quota(stack)
    first = catalog(stack, "turna", 30)
    second = catalog(stack, "turnb", 30)
    worker_process("--no-ticker")

    a, b = start_run(first), start_run(second)
    run_a, run_b = finished(a), finished(b)

    assert (run_a.state, run_b.state) == ("finished", "finished")
    assert len(bc_skus(stack, "turna")) == len(bc_skus(stack, "turnb")) == 30
    # Each run's steps ran while the other run was still going: neither held the worker.
    rows = db.session.scalars(
        select(JobRecord)
        .where(JobRecord.func.in_(["worker.jobs.catalog.continue_run"]))
        .order_by(JobRecord.started_at)
    ).all()
    first_done = min(run_a.finished_at, run_b.finished_at)
    before = {row.args[0] for row in rows if row.started_at <= first_done}
    assert before == {a, b}, [(row.args, row.started_at) for row in rows]


def test_a_step_killed_mid_way_resumes_at_its_cursor_and_creates_nothing_twice(
    app, stack, worker_process, monkeypatch, redis_conn
):
    small_quota(stack)
    # The killed step's retry comes 2 s later, not 10 s (steps are queued here and there).
    monkeypatch.setitem(app.config, "JOB_RETRY_SECONDS", [2, 4, 8, 16, 32])
    merchant = catalog(stack, "killme", 50)
    # Slow Bindo reads, so a step's work horse lives long enough to be killed.
    stack.bindo.inject_api_fault(status=None, delay=0.3, count=10_000, path_contains="/products")
    worker = worker_process("--no-ticker", JOB_RETRY_SECONDS="2,4,8,16,32")
    scheduler = scheduler_pid(worker)
    run_id = start_run(merchant)

    def step_in_flight() -> str | None:
        """The id of a later step running now (not the first, not a stock push between)."""
        db.session.expire_all()
        row = db.session.get(SyncRun, run_id)
        if not (row.done and row.state == "running" and row.done < 50):
            return None
        running = [w.get_current_job_id() for w in Worker.all(connection=redis_conn)]
        return next((j for j in running if j and j.startswith("catalog_run-")), None)

    killed = None
    for _ in range(3):  # a step may end between the look and the kill: then try again
        step_id = wait_for(step_in_flight, timeout=120, interval=0.05)
        done_before = db.session.get(SyncRun, run_id).done
        for pid in children(worker.proc.pid):
            if pid != scheduler:
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        if f"Work horse killed for job {step_id}" in worker.log_path.read_text():
            killed = step_id
            break
    assert killed, "no step's work horse was killed mid-way"

    run = finished(run_id, timeout=240)

    assert run.state == "finished", run.error
    assert 0 < done_before < 50
    skus = bc_skus(stack, "killme")
    assert len(skus) == len(set(skus)) == 50  # nothing created twice
    # RQ retried the killed step (same step number): it resumed from the saved cursor.
    assert f"Job {killed}: scheduled for retry" in worker.log_path.read_text()


# --- echoes of our own writes ---------------------------------------------------------------


def bc_event(
    merchant, bc_id: int, created_at: float, scope: str = "store/product/updated"
) -> WebhookEvent:
    kind = scope.split("/")[1]  # product, order
    return WebhookEvent(
        source="bigcommerce",
        event_key=f"e-{scope}-{bc_id}-{created_at}",
        merchant_id=merchant.id,
        scope=scope,
        payload={"data": {"type": kind, "id": bc_id}, "created_at": int(created_at)},
    )


def pushed_shop(stack, store_hash: str):
    """A merchant with three products at 10.00 pushed to BigCommerce, and their bindings."""
    shop = stack.linked_merchant(store_hash)
    make_category(shop, "Shoes")
    products = [new_product(stack, shop, price="10.00") for _ in range(3)]
    push(shop.id, [p["id"] for p in products])
    return shop, [binding(shop.id, p["id"]) for p in products]


def test_an_echo_costs_nothing_and_genuine_edits_are_checked_in_one_batched_read(stack, redis_conn):
    from worker.jobs.catalog import check_bc_products
    from worker.sync.catalog.handlers import CHECK_JOB, check_key, on_bigcommerce_product_updated

    shop, bindings = pushed_shop(stack, "echo1")
    stack.bc.reset_requests()

    # The store/product/updated our own create caused: dropped, no job, no request.
    for b in bindings:
        on_bigcommerce_product_updated(bc_event(shop, b.bc_product_id, time.time()), shop)
    assert db.session.query(JobRecord).filter_by(func=CHECK_JOB).count() == 0
    assert not redis_conn.scard(check_key(shop.id))

    # The merchant edits two prices in BigCommerce, well after our write: one check job for
    # the store, one read for both products, and both prices restored.
    later = bindings[0].pushed_at.timestamp() + 600
    for b in bindings[:2]:
        bc_product(stack, "echo1", b.bc_product_id)["price"] = 1.0
        on_bigcommerce_product_updated(bc_event(shop, b.bc_product_id, later), shop)
    assert db.session.query(JobRecord).filter_by(func=CHECK_JOB).count() == 1

    counts = check_bc_products(shop.id)

    assert counts["checked"] == 2 and counts["drift"] == 2
    assert [bc_product(stack, "echo1", b.bc_product_id)["price"] for b in bindings] == [10.0] * 3
    assert endpoints(stack, "echo1")["GET /v3/catalog/products"] == 1
    assert not redis_conn.scard(check_key(shop.id))


def test_the_relay_settles_echoes_and_inventory_events_without_a_job(stack, redis_conn):
    # Issue 14 item 3: an echo never becomes a job, so an order behind it is not delayed.
    from portal.queue import HIGH, get_queue
    from worker import inbox

    shop, bindings = pushed_shop(stack, "echo3")
    now = time.time()
    echoes = [bc_event(shop, b.bc_product_id, now) for b in bindings]
    foreign = bc_event(shop, 999_999, now)  # a product the merchant made in BigCommerce
    genuine = bc_event(shop, bindings[0].bc_product_id, now + 600)  # edited well after us
    stock = bc_event(shop, bindings[1].bc_product_id, now, "store/product/inventory/updated")
    order = bc_event(shop, 1, now, "store/order/created")
    db.session.add_all([*echoes, foreign, genuine, stock, order])
    db.session.commit()
    get_queue(HIGH).empty()

    assert inbox.relay_inbox() == 2  # the genuine edit and the order

    queued = set(get_queue(HIGH).job_ids)
    assert queued == {inbox.event_job_id(genuine.id), inbox.event_job_id(order.id)}
    db.session.expire_all()
    for event, why in [*((e, "echo of our own write") for e in echoes), (foreign, "not a product")]:
        assert event.state == "ignored" and event.error.startswith(why), event.error
    assert stock.state == "ignored" and genuine.state == order.state == "received"
    assert inbox.relay_inbox() == 0  # settled rows are never relayed again


def test_the_strict_setting_checks_every_event(stack, app, redis_conn):
    from worker.sync.catalog.handlers import check_key, on_bigcommerce_product_updated

    shop = stack.linked_merchant("echo2")
    make_category(shop, "Shoes")
    product = new_product(stack, shop)
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    app.config["CATALOG_ECHO_WINDOW_SECONDS"] = 0
    try:
        on_bigcommerce_product_updated(bc_event(shop, bc_id, time.time()), shop)
    finally:
        app.config["CATALOG_ECHO_WINDOW_SECONDS"] = 60
    assert {int(i) for i in redis_conn.smembers(check_key(shop.id))} == {bc_id}


# --- product locks of dead jobs (issue 18 item 9) --------------------------------------------


def test_a_lock_held_by_a_dead_job_is_taken_over_and_a_live_one_is_not(stack, app, redis_conn):
    from portal.queue import get_queue
    from worker.sync.catalog.locks import ProductLocks

    with app.app_context():
        queue = get_queue(LOW)
        dead = queue.enqueue("worker.jobs.catalog.full_sync", 1, job_id="killed-step")
        live = queue.enqueue("worker.jobs.catalog.full_sync", 2, job_id="running-step")
    dead.set_status("failed")  # what RQ records when it finds the work horse killed
    live.set_status("started")
    live.heartbeat(datetime.now(UTC), 60)
    redis_conn.set("bc:lock:lk:1", "killed-step|aaaa", ex=300)
    redis_conn.set("bc:lock:lk:2", "running-step|bbbb", ex=300)

    locks = ProductLocks(redis_conn, "lk")

    assert locks.acquire(1)  # freed at once, not after 300 s
    assert redis_conn.get("bc:lock:lk:1").decode() == locks.token
    assert not locks.acquire(2)
    assert Job.fetch("running-step", connection=redis_conn, serializer=JSONSerializer)
    # A product found locked is tried again later and later, not every 5 s.
    assert [locks.retry_delay(2) for _ in range(6)] == [5, 10, 20, 40, 80, 120]
    locks.forget_retries([2])
    assert locks.retry_delay(2) == 5


def test_a_step_gives_its_worker_up_between_update_batches_and_the_next_writes_the_rest(stack):
    # Issue 14 item 2: an order waiting behind a re-send waits for one batch PUT, not a chunk.
    from worker.sync.catalog import steps

    def step(run: SyncRun, yield_when) -> steps.StepResult:
        return steps.Step(run, merchant, yield_when=yield_when, seconds=600).run_once()

    merchant = catalog(stack, "steps8", 30)
    first = in_process_run(merchant, "initial")
    assert step(first, lambda: False).done
    for product in stack.bindo.stores[merchant.bindo_store_id].products.values():
        stack.bindo.update_product(merchant.bindo_store_id, product["id"], price="12.00")
    stack.bc.reset_requests()

    resend = in_process_run(merchant, "full")
    asked: list[int] = []

    def after_one_put() -> bool:  # an order arrives while the first batch is written
        asked.append(endpoints(stack, "steps8").get("PUT /v3/catalog/products", 0))
        return asked[-1] >= 1

    result = step(resend, after_one_put)
    assert not result.done and result.delay == 0.0
    assert endpoints(stack, "steps8")["PUT /v3/catalog/products"] == 1
    assert resend.cursor["pos"] == resend.done == 10  # only the written batch is passed

    while not (result := step(resend, lambda: False)).done:
        pass
    prices = [p["price"] for p in stack.bc.stores["steps8"].products.values()]
    assert prices == [12.0] * 30
    # 30 updates in 3 PUTs of 10: nothing written twice, nothing left out.
    assert endpoints(stack, "steps8")["PUT /v3/catalog/products"] == 3


def test_small_steps_share_their_channel_assignments_through_a_mark_on_the_binding(stack):
    # Steps are small while other work waits (a few creates each): their channel assignments
    # (Multi-Storefront, the simulator's default) are batched across steps by a mark on the
    # binding, instead of one request per step.
    from worker.sync.catalog import steps

    merchant = catalog(stack, "chans", 60)
    run = in_process_run(merchant, "initial")
    asked = [0]

    def every_third_create() -> bool:
        asked[0] += 1
        return asked[0] % 3 == 0

    first = steps.Step(run, merchant, yield_when=every_third_create, seconds=600).run_once()
    assert not first.done
    # The step that stopped after a few creates has assigned nothing yet; its products carry
    # the mark, so a step that died here would leave them for the next assignment.
    pending = db.session.scalars(
        select(ProductBinding.bc_product_id).where(ProductBinding.channels_pending.is_(True))
    ).all()
    assert 0 < len(pending) < 50
    assert "PUT /v3/catalog/products/channel-assignments" not in endpoints(stack, "chans")

    n = 1
    while not steps.Step(run, merchant, yield_when=every_third_create, seconds=600).run_once().done:
        n += 1
    assert n >= 10  # many small steps
    store = stack.bc.stores["chans"]
    assert all(store.channel_assignments[bc_id] == {1} for bc_id in store.products)
    assert len(store.products) == 60
    # 60 creates: one assignment when 50 were waiting, one for the rest at the run's end.
    assert endpoints(stack, "chans")["PUT /v3/catalog/products/channel-assignments"] == 2
    assert not db.session.scalars(
        select(ProductBinding).where(ProductBinding.channels_pending.is_(True))
    ).all()


def test_a_step_works_its_minimum_slice_before_it_yields_to_waiting_work(stack, app, monkeypatch):
    # Under steady traffic something always waits. A step still works CATALOG_MIN_SLICE_SECONDS
    # before it gives its worker up, so its fork and reload are not spent on one create.
    from worker.sync.catalog import steps

    merchant = catalog(stack, "slice", 12)
    monkeypatch.setattr(steps, "other_work_waiting", lambda: True)
    run = in_process_run(merchant)
    monkeypatch.setitem(app.config, "CATALOG_MIN_SLICE_SECONDS", 0)
    first = steps.Step(run, merchant, seconds=600).run_once()
    assert not first.done and first.delay == 0.0
    assert run.cursor["pos"] == 1  # a step makes one create at least, then yields at once

    monkeypatch.setitem(app.config, "CATALOG_MIN_SLICE_SECONDS", 600)
    assert steps.Step(run, merchant, seconds=600).run_once().done  # the other 11 in one step
    assert len(stack.bc.stores["slice"].products) == 12


def test_a_chunk_reads_its_bindings_in_one_query(stack):
    # Planning a chunk of 20 bound products reads their bindings once, and the re-check after
    # the locks once more; it read them one product at a time, twice.
    from sqlalchemy import event

    from worker.sync.catalog.engine import CatalogSync

    merchant = catalog(stack, "reads", 20)
    records = list(stack.bindo.stores[merchant.bindo_store_id].products.values())
    assert CatalogSync(merchant).sync_records(records).counts()["created"] == 20
    for record in records:
        stack.bindo.update_product(merchant.bindo_store_id, record["id"], price="9.00")
    records = list(stack.bindo.stores[merchant.bindo_store_id].products.values())

    selects: list[str] = []

    def count(conn, cursor, statement, *_args) -> None:
        # Look-ups by Bindo id (a refresh of a loaded binding after a commit is by its own id).
        if (
            statement.lstrip().startswith("SELECT")
            and "product_bindings.bindo_product_id " in (statement.split("WHERE", 1)[-1])
        ):
            selects.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = CatalogSync(merchant).sync_records(records)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert report.counts()["updated"] == 20
    assert len(selects) == 2
    assert all("bindo_product_id IN" in statement for statement in selects)


def test_a_step_reads_no_row_back_for_each_product_it_creates(stack):
    # Each create commits, which expires every loaded row: reading the merchant (its id, its
    # channels), the run (its total and done) or the new binding (its BigCommerce id) back
    # afterwards cost 3 SELECTs by primary key per created product. A step of 30 creates now
    # reloads rows as often as a step of 10 (a few per step; the run's progress is saved
    # about ten times a run, whatever its size below 500 products).
    from sqlalchemy import event

    from worker.sync.catalog import steps

    tables = ("merchants", "sync_runs", "product_bindings")

    def reloads_in_one_step(store_hash: str, count: int) -> dict[str, int]:
        merchant = catalog(stack, store_hash, count)
        run = in_process_run(merchant)
        reloads: list[str] = []

        def note(conn, cursor, statement, *_args) -> None:
            where = statement.split("WHERE", 1)[1] if "WHERE" in statement else ""
            if statement.lstrip().startswith("SELECT") and any(
                f"{t}.id = " in where for t in tables
            ):
                reloads.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            result = steps.Step(run, merchant, yield_when=lambda: False, seconds=600).run_once()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        assert result.done and run.counts["created"] == count
        return {t: sum(1 for r in reloads if f"FROM {t} " in r) for t in tables}

    small, large = reloads_in_one_step("reloads10", 10), reloads_in_one_step("reloads30", 30)
    assert large["product_bindings"] == 0
    assert sum(large.values()) - sum(small.values()) <= 2, (small, large)


def test_the_steps_of_a_run_share_one_delayed_stock_push_and_a_stock_change_goes_at_once(
    stack,
):
    """Each step's new products join one push queued NEW_STOCK_PUSH_DELAY_SECONDS later (one
    push per step was half of all jobs in bench_tenants); a Bindo stock change meanwhile
    still queues its own push at once, and that push also takes the new products."""
    from rq.registry import ScheduledJobRegistry

    from portal.queue import DEFAULT, get_queue
    from worker.sync import stock
    from worker.sync.catalog import steps

    merchant = catalog(stack, "steps11", 12)
    run = in_process_run(merchant, "initial")
    queue = get_queue(DEFAULT)
    registry = ScheduledJobRegistry(queue=queue)
    after_each: list[tuple[int, list[str]]] = []
    for _ in range(3):
        steps.Step(run, merchant, yield_when=lambda: True, seconds=600).run_once()
        db.session.expire_all()
        after_each.append((run.done, registry.get_job_ids()))
    dones = [done for done, _ids in after_each]
    assert dones[0] > 0 and dones[0] < dones[1] < dones[2]  # every step created products
    (first,) = after_each[0][1]
    assert first.startswith("stock_new-steps11-")
    assert all(ids == [first] for _done, ids in after_each)  # one push for the three steps
    assert queue.count == 0
    created = [b.bindo_product_id for b in db.session.scalars(select(ProductBinding))]
    assert len(created) == dones[2] and stock.take_pending(merchant.id) == sorted(created)

    stock.request_push(merchant, created[:1])  # a stock change in Bindo meanwhile
    assert [j.startswith("stock-steps11-") for j in queue.get_job_ids()] == [True]
