"""Many merchants at once: 10 stores run their initial syncs together on 2 workers while an
eleventh, idle store gets stock changes and orders (issue 14).

Run: .venv/bin/python bench/bench_tenants.py [--stores 10] [--size 1000] [--workers 2]

Each syncing store has 1,000 Bindo products (3 images each, categories already in the store)
and its own quota (150 per 10 s by default). All initial syncs are enqueued at once, as the
portal does (``portal.lifecycle.start_sync``); real ``python -m worker`` processes run them.
The idle store's figures are end to end, as in bench_latency: a Bindo stock change until the
BigCommerce level shows it, and a BigCommerce checkout until the order is in Bindo.

Printed per store: its sync time as a ratio to its own quota-bound minimum (its requests /
its quota rate; target <= 1.3x), and the idle store's stock and order p95 (target <= 2 s).
PostgreSQL is used when the local server answers (a bench database created and dropped here),
else SQLite. Nothing is asserted: the figures are the output.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import threading
import time

import _harness as h

IDLE = "idle"
PG_NAME = os.environ.get("BENCH_PG_NAME", "bindo_bench_tenants")


def setup_idle(app, world, products: int) -> list[tuple[int, int]]:
    """The idle store: webhooks subscribed, bound products (bindo id, bc id) with stock."""
    return h.linked_probe_store(app, world, IDLE, products, name="Idle", sku="IDLE")[1]


def idle_traffic(world, pairs, stop: threading.Event, gap: float, out: dict) -> None:
    """Alternate a stock change and an order on the idle store until ``stop``."""

    bindo_store = world.bindo.store(f"bindo-{IDLE}")
    n = 0
    while not stop.is_set():
        bindo_id, bc_id = pairs[n % len(pairs)]
        level = 500 + n
        started = time.perf_counter()
        world.bindo.set_stock(f"bindo-{IDLE}", bindo_id, h.BINDO_LOCATION, level)

        def level_is(b=bc_id, v=level) -> bool:
            with world.bc.lock:
                return world.bc.store(IDLE).stock.get((b, 1)) == v

        if h.wait_until(level_is, timeout=120, interval=0.005):
            out["stock"].append(time.perf_counter() - started)
        else:
            out["stock_lost"] += 1
        time.sleep(gap)
        started = time.perf_counter()
        ref = h.checkout(world, IDLE, bc_id, n, "Bench")

        def imported(ref=ref) -> bool:
            with world.bindo.lock:
                return ref in bindo_store.orders_by_ref

        if h.wait_until(imported, timeout=120, interval=0.005):
            out["orders"].append(time.perf_counter() - started)
        else:
            out["orders_lost"] += 1
        time.sleep(gap)
        n += 1


def print_jobs(app) -> None:
    """How many jobs the workers ran, by entry point (each is a fork of a worker)."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import JobRecord

    with app.app_context():
        rows = db.session.execute(
            select(JobRecord.func, func.count())
            .group_by(JobRecord.func)
            .order_by(func.count().desc())
        ).all()
        db.session.remove()
    total = sum(n for _f, n in rows)
    kinds = ", ".join(f"{name.rsplit('.', 1)[-1]} {n:,}" for name, n in rows)
    print(f"   jobs with a JobRecord: {total:,} ({kinds}); inbox event jobs are not counted")


def start_workers(cfg, world, tmp, count: int) -> list[subprocess.Popen]:
    """``count`` workers and the clock, whose relay queues the webhook rows' jobs."""
    workers = [h.start_process(cfg, world, tmp / f"worker{i}.log") for i in range(count)]
    return [*workers, h.start_process(cfg, world, tmp / "clock.log", "worker.clock", "--no-tick")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--size", type=int, default=1000, help="products per syncing store")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--quota", type=int, default=150)
    parser.add_argument("--window-ms", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds between events")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (s)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL is up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pg_name = h.pg_name_or_none(args.sqlite, PG_NAME)
    rate = args.quota / (args.window_ms / 1000)
    h.banner(
        f"bench_tenants: {args.stores} stores x {args.size:,} products x {args.images} images "
        f"syncing at once, quota {args.quota} per {args.window_ms} ms each, {args.workers} "
        f"workers, 1 idle store with stock and orders, "
        f"{'PostgreSQL' if pg_name else 'SQLite'}"
    )
    with h.bench_run(
        "bench-tenants-", pg_name, quota=args.quota, window_ms=args.window_ms, serve_portal=True
    ) as r:
        return run(r.app, r.world, r.cfg, r.tmp, args, rate, r.procs)


def run(app, world, cfg, tmp, args, rate: float, workers: list) -> int:
    from portal.extensions import db
    from portal.lifecycle import start_sync
    from portal.models import Merchant, SyncRun

    names = h.category_names(10)
    stores = [f"t{i:02d}" for i in range(args.stores)]
    merchant_ids: dict[str, int] = {}
    started_setup = time.perf_counter()
    for store in stores:
        merchant_ids[store] = h.link_merchant(app, world, store)
        h.create_categories(world, store, names)
        h.create_bindo_catalog(world, store, args.size, images=args.images, categories=names)
    pairs = setup_idle(app, world, products=20)
    print(f"   set-up: {args.stores * args.size:,} Bindo products in "
          f"{time.perf_counter() - started_setup:.1f} s")  # fmt: skip
    workers.extend(start_workers(cfg, world, tmp, args.workers))
    time.sleep(3)  # the workers import and register
    if any(w.poll() is not None for w in workers):
        print((tmp / "worker0.log").read_text()[-3000:])
        raise SystemExit("a worker did not start")

    marks = {s: len(h.request_log(world, s)) for s in stores}
    run_ids: dict[str, int] = {}
    meter = h.CpuMeter(
        {
            "workers (with their horses)": [w.pid for w in workers[:-1]],
            "clock": [workers[-1].pid],
            "bench: simulators, portal": [os.getpid()],
        }
    )
    t0 = time.perf_counter()
    with app.app_context():
        for store in stores:
            run_ids[store] = start_sync(db.session.get(Merchant, merchant_ids[store]), "initial").id
    out = {"stock": [], "orders": [], "stock_lost": 0, "orders_lost": 0}
    stop = threading.Event()
    traffic = threading.Thread(target=idle_traffic, args=(world, pairs, stop, args.gap, out))
    traffic.start()
    finished: dict[str, float] = {}
    states: dict[str, str] = {}
    try:
        while len(finished) < len(stores) and time.perf_counter() - t0 < args.timeout:
            time.sleep(0.2)
            with app.app_context():
                for store, run_id in run_ids.items():
                    if store in finished:
                        continue
                    sync_run = db.session.get(SyncRun, run_id)
                    db.session.refresh(sync_run)
                    if sync_run.state in ("finished", "failed"):
                        finished[store] = time.perf_counter() - t0
                        states[store] = sync_run.state
                db.session.remove()
    finally:
        stop.set()
        traffic.join(180)
    print()
    print(f"   {'store':6} {'state':9} {'requests':>9} {'429s':>5} {'time s':>8} "
          f"{'min s':>7} {'x min':>6}")  # fmt: skip
    ratios = []
    for store in stores:
        t = h.traffic_since(world, store, marks[store])
        minimum = t.requests / rate
        elapsed = finished.get(store, float("nan"))
        ratio = elapsed / minimum if minimum else float("nan")
        ratios.append(ratio)
        print(f"   {store:6} {states.get(store, 'timeout'):9} {t.requests:>9,} {t.limited:>5} "
              f"{elapsed:>8.1f} {minimum:>7.1f} {ratio:>6.2f}")  # fmt: skip
    print()
    meter.report(per=args.stores * args.size, unit="product created")
    print_jobs(app)
    print()
    worst = max(ratios)
    print(f"   sync time / own quota-bound minimum: best {min(ratios):.2f}x, worst {worst:.2f}x; "
          f"target every store <= 1.3x {h.verdict(worst <= 1.3)}")  # fmt: skip
    print_probe(out, "idle store")
    return 0


def print_probe(out: dict, who: str) -> None:
    """The latencies ``idle_traffic`` measured, against the 2 s p95 target."""
    for label, key in ((f"{who} stock (Bindo -> BC)", "stock"),
                       (f"{who} orders (BC -> Bindo)", "orders")):  # fmt: skip
        values, lost = out[key], out[f"{key}_lost"]
        if not values:
            print(f"   {label}: no event arrived ({lost} lost)")
            continue
        d = h.describe(values)
        print(f"   {label}: n={d['n']} p50 {d['p50']:.2f} s, p95 {d['p95']:.2f} s, "
              f"p99 {d['p99']:.2f} s, max {d['max']:.2f} s, lost {lost}; target p95 <= 2 s "
              f"{h.verdict(d['p95'] <= 2.0 and not lost)}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
