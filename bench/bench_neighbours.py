"""Noisy neighbours: stores whose orders outrun their own BigCommerce quota share 2 workers
with a quiet store; how long do the quiet store's stock changes and orders take?

Run: .venv/bin/python bench/bench_neighbours.py [--noisy 4] [--order-rate 0.5] [--seconds 60]
     [--quota-wait 2]

Every store has the same quota (15 per 10 s by default: 1.5 requests/s). Each noisy store gets
``--order-rate`` checkouts a second; an order costs 3 BigCommerce reads plus a share of the
stock push its sale causes, so their imports outrun the quota and must wait for it. The
defaults keep the 2-core development machine below half busy, so that what is measured is
waiting, not a full CPU. The quiet store (bench_tenants' idle store)
gets a stock change and an order every ``--gap`` seconds, well inside its own quota: any wait
it sees is a wait for a worker. ``--quota-wait`` sets QUOTA_WAIT_SECONDS for the workers: the
default (2 s) defers a job that would wait longer for its store's quota; a large value (3600)
makes jobs sleep in the pacer on their worker, as before 2026-12-05. Run both in the same hour
to compare. Nothing is asserted: the figures are the output.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

import _harness as h
import bench_tenants as tenants

PG_NAME = "bindo_bench_neighbours"


def noisy_orders(world, store: str, pairs, stop: threading.Event, rate: float, out: dict) -> None:
    """Checkouts on ``store`` at ``rate`` a second until ``stop``; their references in ``out``."""

    n, next_at = 0, time.perf_counter()
    while not stop.is_set():
        bc_id = pairs[n % len(pairs)][1]
        out.append(h.checkout(world, store, bc_id, n, "Noisy"))
        n += 1
        next_at += 1 / rate
        stop.wait(max(0.0, next_at - time.perf_counter()))


def imported(world, store: str, refs: list[str]) -> int:
    bindo_store = world.bindo.store(f"bindo-{store}")
    with world.bindo.lock:
        return sum(1 for ref in refs if ref in bindo_store.orders_by_ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noisy", type=int, default=4, help="stores over their quota")
    parser.add_argument("--order-rate", type=float, default=0.5, help="orders/s per noisy store")
    parser.add_argument("--quota", type=int, default=15)
    parser.add_argument("--window-ms", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gap", type=float, default=2.0, help="quiet seconds between events")
    parser.add_argument("--seconds", type=float, default=60, help="length of the traffic")
    parser.add_argument("--quota-wait", type=float, default=2.0, help="QUOTA_WAIT_SECONDS")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL is up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pg_name = h.pg_name_or_none(args.sqlite, PG_NAME)
    h.banner(
        f"bench_neighbours: {args.noisy} stores at {args.order_rate} orders/s each against a "
        f"quota of {args.quota} per {args.window_ms} ms, 1 quiet store, {args.workers} workers, "
        f"QUOTA_WAIT_SECONDS={args.quota_wait:g}, {'PostgreSQL' if pg_name else 'SQLite'}"
    )
    with h.bench_run(
        "bench-neighbours-", pg_name, {"QUOTA_WAIT_SECONDS": args.quota_wait},
        quota=args.quota, window_ms=args.window_ms, serve_portal=True,
    ) as r:  # fmt: skip
        return run(r.app, r.world, r.cfg, r.tmp, args, r.procs)


def run(app, world, cfg, tmp, args, workers: list) -> int:
    noisy = [f"n{i:02d}" for i in range(args.noisy)]
    noisy_pairs = {
        s: h.linked_probe_store(app, world, s, 5, name=f"Noisy {s}", sku=s.upper())[1]
        for s in noisy
    }
    for store, pairs in noisy_pairs.items():  # Bindo stock for every order the bench places
        for bindo_id, _bc_id in pairs:
            world.bindo.set_stock(f"bindo-{store}", bindo_id, h.BINDO_LOCATION, 1_000_000)
    quiet_pairs = tenants.setup_idle(app, world, products=20)
    workers.extend(tenants.start_workers(cfg, world, tmp, args.workers))
    time.sleep(3)  # the workers import and register
    if any(w.poll() is not None for w in workers):
        print((tmp / "worker0.log").read_text()[-3000:])
        raise SystemExit("a worker did not start")
    meter = h.CpuMeter({"workers (with their horses)": [w.pid for w in workers[:-1]]})
    stop = threading.Event()
    refs: dict[str, list[str]] = {s: [] for s in noisy}
    quiet = {"stock": [], "orders": [], "stock_lost": 0, "orders_lost": 0}
    threads = [
        threading.Thread(
            target=noisy_orders, args=(world, s, noisy_pairs[s], stop, args.order_rate, refs[s])
        )
        for s in noisy
    ]
    threads.append(
        threading.Thread(
            target=tenants.idle_traffic, args=(world, quiet_pairs, stop, args.gap, quiet)
        )
    )
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join(180)
    traffic_s = time.perf_counter() - t0
    placed = sum(len(r) for r in refs.values())
    at_stop = sum(imported(world, s, refs[s]) for s in noisy)
    h.wait_until(lambda: sum(imported(world, s, refs[s]) for s in noisy) == placed, timeout=300)
    drained = time.perf_counter() - t0
    done = sum(imported(world, s, refs[s]) for s in noisy)
    deferred = sum(log.read_text().count(" deferred ") for log in tmp.glob("worker*.log"))
    print()
    tenants.print_probe(quiet, "quiet store")
    print(
        f"   noisy orders: {placed} placed in {traffic_s:.0f} s, {at_stop} imported when the "
        f"traffic stopped, {done} after {drained:.0f} s; {deferred} job deferrals logged"
    )
    meter.report(per=max(1, done), unit="noisy order imported")
    tenants.print_jobs(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
