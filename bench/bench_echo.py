"""The echo of our own writes: what a settings change costs on a 1,000-product store, and how
long an order placed meanwhile takes to reach Bindo (issue 14).

Run: .venv/bin/python bench/bench_echo.py [--size 1000] [--workers 1] [--orders 20]

One store with ``--size`` products (3 images each) is synced first (initial sync through the
workers), with its BigCommerce webhooks (store/product/updated, store/order/created) delivered
over HTTP to the portal. Then the merchant turns on "allow orders when out of stock", which
re-sends every product (inventory tracking changes), and BigCommerce sends a
store/product/updated back for each product we wrote. Printed: the requests made because of
those echoes (product reads after the change; target 0), the check jobs they caused, the
re-send's duration, and the p95 of orders placed every ``--gap`` s meanwhile (target <= 2 s).
The quota is 150 per 30 s (BigCommerce's real window) unless ``--window-ms`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import _harness as h
from bench_tenants import start_workers

STORE = "echo"
PG_NAME = os.environ.get("BENCH_PG_NAME", "bindo_bench_echo")


def subscribe(app, world, merchant_id: int) -> None:
    from portal.extensions import db
    from portal.models import Merchant
    from sandbox.bigcommerce import hooks as bc_hooks

    with app.app_context():
        secret = db.session.get(Merchant, merchant_id).hook_secret
    with world.bc.lock:
        for scope in ("store/product/updated", "store/order/created"):
            bc_hooks.create_hook(
                world.bc,
                world.bc.store(STORE),
                {
                    "scope": scope,
                    "destination": f"{world.portal_url}/webhooks/bigcommerce",
                    "is_active": True,
                    "headers": {"X-Bindo-Hook-Secret": secret},
                },
            )


def wait_run(app, run_id: int, timeout: float) -> str:
    from portal.extensions import db
    from portal.models import SyncRun

    def done():
        with app.app_context():
            row = db.session.get(SyncRun, run_id)
            state = row.state if row.state in ("finished", "failed") else None
            db.session.remove()
            return state

    return h.wait_until(done, timeout=timeout, interval=0.2) or "timeout"


def count_checks(app) -> int:
    """Drift-check jobs ever recorded (one per product on the old code, per store now)."""
    from portal.extensions import db
    from portal.models import JobRecord

    with app.app_context():
        count = db.session.query(JobRecord).filter(JobRecord.func.like("%check_bc%")).count()
        db.session.remove()
        return count


def latest_run(app, merchant_id: int, after_id: int) -> int | None:
    from portal.extensions import db
    from portal.models import SyncRun

    with app.app_context():
        row = (
            db.session.query(SyncRun)
            .filter(SyncRun.merchant_id == merchant_id, SyncRun.id > after_id)
            .order_by(SyncRun.id.desc())
            .first()
        )
        db.session.remove()
        return row.id if row else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--quota", type=int, default=150)
    parser.add_argument("--window-ms", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=1, help="the Procfile runs one")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pg_name = h.pg_name_or_none(args.sqlite, PG_NAME)
    h.banner(
        f"bench_echo: settings change on a {args.size:,}-product store, quota {args.quota} per "
        f"{args.window_ms} ms, {args.workers} worker(s), {args.orders} orders meanwhile, "
        f"{'PostgreSQL' if pg_name else 'SQLite'}"
    )
    with h.bench_run(
        "bench-echo-", pg_name, quota=args.quota, window_ms=args.window_ms, serve_portal=True
    ) as r:
        return run(r.app, r.world, r.cfg, r.tmp, args, r.procs)


def run(app, world, cfg, tmp, args, workers: list) -> int:
    from portal.extensions import db
    from portal.lifecycle import start_sync, sync_after_settings_change
    from portal.models import Merchant

    names = h.category_names(10)
    merchant_id = h.link_merchant(app, world, STORE)
    h.create_categories(world, STORE, names)
    h.create_bindo_catalog(world, STORE, args.size, images=args.images, categories=names, stock=50)
    subscribe(app, world, merchant_id)
    workers.extend(start_workers(cfg, world, tmp, args.workers))
    time.sleep(3)
    with app.app_context():
        first = start_sync(db.session.get(Merchant, merchant_id), "initial").id
    started = time.perf_counter()
    state = wait_run(app, first, timeout=3600)
    print(f"   initial sync: {state} in {time.perf_counter() - started:.1f} s")
    world.bc.wait_deliveries(timeout=60)
    time.sleep(args.window_ms / 1000 + 2)  # its echoes handled, a fresh quota window

    checks_before = count_checks(app)
    mark = len(h.request_log(world, STORE))
    delivered_before = len(world.bc.deliveries)
    t0 = time.perf_counter()
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        merchant.allow_out_of_stock_orders = True
        db.session.commit()
        sync_after_settings_change(merchant, ["allow_out_of_stock_orders"])
    with world.bc.lock:
        bc_ids = sorted(world.bc.store(STORE).products)
    bindo_store = world.bindo.store(f"bindo-{STORE}")
    latencies, lost = [], 0
    for n in range(args.orders):
        sent = time.perf_counter()
        ref = h.checkout(world, STORE, bc_ids[n % len(bc_ids)], n, "Echo")

        def imported(ref=ref) -> bool:
            with world.bindo.lock:
                return ref in bindo_store.orders_by_ref

        if h.wait_until(imported, timeout=300, interval=0.005):
            latencies.append(time.perf_counter() - sent)
        else:
            lost += 1
        time.sleep(args.gap)
    resend = latest_run(app, merchant_id, first)
    state = wait_run(app, resend, timeout=3600) if resend else "no run"
    resend_s = time.perf_counter() - t0
    world.bc.wait_deliveries(timeout=60)
    time.sleep(5)  # let the last echo jobs run
    traffic = h.traffic_since(world, STORE, mark)
    later = world.bc.deliveries[delivered_before:]
    echoes = sum(1 for d in later if d.get("scope") == "store/product/updated")
    checks = count_checks(app) - checks_before
    reads = traffic.by_endpoint.get("GET /v3/catalog/products", 0)
    print(f"   re-send after the settings change: {state} in {resend_s:.1f} s")
    print(f"   store/product/updated deliveries after the change: {echoes}")
    print(f"   requests after the change: {traffic.requests:,} ({traffic.limited} 429s): "
          + ", ".join(f"{k} {v}" for k, v in sorted(traffic.by_endpoint.items())))  # fmt: skip
    print(f"   check jobs caused by the echoes: {checks}; product reads: {reads}; "
          f"target 0 requests for echoes {h.verdict(reads == 0)}")  # fmt: skip
    if latencies:
        d = h.describe(latencies)
        print(f"   orders placed during the re-send: n={d['n']} p50 {d['p50']:.2f} s, "
              f"p95 {d['p95']:.2f} s, max {d['max']:.2f} s, lost {lost}; target p95 <= 2 s "
              f"{h.verdict(d['p95'] <= 2.0 and not lost)}")  # fmt: skip
    else:
        print(f"   orders: none arrived ({lost} lost)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
