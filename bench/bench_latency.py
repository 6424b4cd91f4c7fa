"""End-to-end latency on an idle system, one event at a time:

  stock:  Bindo stock change -> Bindo webhook -> our portal -> worker -> BigCommerce level
  orders: BigCommerce checkout -> BigCommerce webhook -> our portal -> worker -> Bindo order

Run: .venv/bin/python bench/bench_latency.py [--size 200]   (default 50 events of each kind)

Both simulators and the portal are served over loopback HTTP in this process; one real worker
(`python -m worker`) and the clock (`python -m worker.clock --no-tick`, whose relay queues the
webhook rows' jobs) run as subprocesses. The database is PostgreSQL (a bench database created
and dropped here) when the local server answers, else a SQLite file. The clock starts when the
change is made in the simulator and stops when the other simulator's state shows its effect
(polled every 5 ms). Target: p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import _harness as h

STORE = "latency"
PG_NAME = os.environ.get("BENCH_PG_NAME", "bindo_bench_latency")


def setup(app, world, products: int) -> tuple[int, list[tuple[int, int]]]:
    """A linked merchant, its webhooks subscribed, and bound products (bindo id, bc id)."""
    return h.linked_probe_store(app, world, STORE, products, name="Latency", sku="LAT")


def bc_level(world, bc_id: int) -> int | None:
    with world.bc.lock:
        return world.bc.store(STORE).stock.get((bc_id, 1))


def stock_events(world, pairs, count: int, gap: float) -> tuple[list[float], int]:
    latencies, lost = [], 0
    for n in range(count):
        bindo_id, bc_id = pairs[n % len(pairs)]
        level = 500 + n
        started = time.perf_counter()
        world.bindo.set_stock(f"bindo-{STORE}", bindo_id, h.BINDO_LOCATION, level)
        if h.wait_until(
            lambda b=bc_id, v=level: bc_level(world, b) == v, timeout=30, interval=0.005
        ):
            latencies.append(time.perf_counter() - started)
        else:
            lost += 1
        time.sleep(gap)
    return latencies, lost


def order_events(world, pairs, count: int, gap: float) -> tuple[list[float], int]:

    latencies, lost = [], 0
    bindo_store = world.bindo.store(f"bindo-{STORE}")
    for n in range(count):
        _, bc_id = pairs[n % len(pairs)]
        started = time.perf_counter()
        ref = h.checkout(world, STORE, bc_id, n, "Bench")

        def imported(ref=ref) -> bool:
            with world.bindo.lock:
                return ref in bindo_store.orders_by_ref

        if h.wait_until(imported, timeout=30, interval=0.005):
            latencies.append(time.perf_counter() - started)
        else:
            lost += 1
        time.sleep(gap)
    return latencies, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=50, help="events of each kind (full: 200)")
    parser.add_argument("--gap", type=float, default=0.3, help="idle seconds between events")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL is up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pg_name = h.pg_name_or_none(args.sqlite, PG_NAME)
    h.banner(
        f"bench_latency: {args.size} stock + {args.size} order events, one worker, "
        f"{'PostgreSQL' if pg_name else 'SQLite'}"
    )
    with h.bench_run("bench-latency-", pg_name, serve_portal=True) as r:
        merchant_id, pairs = setup(r.app, r.world, products=20)
        r.procs.append(h.start_process(r.cfg, r.world, r.tmp / "worker.log"))
        # The clock's relay queues the webhook rows' jobs (no periodic work here).
        r.procs.append(
            h.start_process(r.cfg, r.world, r.tmp / "clock.log", "worker.clock", "--no-tick")
        )
        time.sleep(3)  # the worker imports and registers
        if any(p.poll() is not None for p in r.procs):
            print((r.tmp / "worker.log").read_text()[-3000:])
            print((r.tmp / "clock.log").read_text()[-3000:])
            raise SystemExit("worker or clock did not start")
        stock, stock_lost = stock_events(r.world, pairs, args.size, args.gap)
        orders, orders_lost = order_events(r.world, pairs, args.size, args.gap)
        report("Bindo stock -> BigCommerce level", stock, stock_lost)
        report("BigCommerce order -> Bindo order", orders, orders_lost)
        if stock_lost or orders_lost:
            print("   worker log tail:\n" + (r.tmp / "worker.log").read_text()[-2000:])
        return 0


def report(label: str, values: list[float], lost: int) -> None:
    if not values:
        print(f"   {label}: no event arrived ({lost} lost)")
        return
    d = h.describe(values)
    print(
        f"   {label}: n={d['n']} p50 {d['p50']:.3f} s, p95 {d['p95']:.3f} s, "
        f"p99 {d['p99']:.3f} s, max {d['max']:.3f} s, lost {lost}; "
        f"target p95 <= 2 s {h.verdict(d['p95'] <= 2.0 and not lost)}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
