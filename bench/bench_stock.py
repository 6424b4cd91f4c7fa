"""Stock push: N level changes through our stock flow; requests used and time until
BigCommerce shows every new level.

Run: .venv/bin/python bench/bench_stock.py [--size 10000] [--apply-delay 0]

Set-up: N products already in the BigCommerce simulator and bound (ProductBinding with a
stock watermark), then a new level counted in Bindo for every one of them. Measured: the RQ
job worker.jobs.stock.push_stock(merchant_id) run in-process (reads Bindo stock, compares with
the watermarks, sends absolute levels in batches of 2,000), then the simulator's state polled
until every level matches. Quota: the real 150 per 30 s. Target: <= 5 requests for 10,000.
"""

from __future__ import annotations

import argparse
import logging
import time

import _harness as h

STORE = "stock"


def setup(app, world, size: int) -> tuple[int, dict[int, int]]:
    """N bound products at level 5 everywhere, then new Bindo levels; bc id -> wanted level."""
    from portal.extensions import db
    from portal.models import ProductBinding
    from sandbox.bigcommerce import catalog as bc_catalog

    merchant_id = h.link_merchant(app, world, STORE)
    bindo_store = f"bindo-{STORE}"
    bc_ids: list[int] = []
    with world.bc.lock:
        store = world.bc.store(STORE)
        for i in range(size):
            body = {
                "name": f"Stock product {i:06d}",
                "type": "physical",
                "sku": f"STK-{i:06d}",
                "price": 10.0,
                "weight": 1.0,
                "inventory_tracking": "product",
                "inventory_level": 5,
            }
            bc_ids.append(int(bc_catalog.create_product(world.bc, store, body)["id"]))
    bindo_ids = []
    for i in range(size):
        product = world.bindo.create_product(
            bindo_store, image_count=0, name=f"Stock product {i:06d}", sku=f"STK-{i:06d}"
        )
        bindo_ids.append(int(product["id"]))
    wanted: dict[int, int] = {}
    with app.app_context():
        db.session.bulk_insert_mappings(
            ProductBinding,
            [
                {
                    "merchant_id": merchant_id,
                    "bindo_product_id": bindo_id,
                    "bc_product_id": bc_id,
                    "sku": f"STK-{i:06d}",
                    "sync_state": "synced",
                    "image_map": {},
                    "stock_pushed": {"1": 5},
                    "attempts": 0,
                }
                for i, (bindo_id, bc_id) in enumerate(zip(bindo_ids, bc_ids, strict=True))
            ],
        )
        db.session.commit()
    for i, (bindo_id, bc_id) in enumerate(zip(bindo_ids, bc_ids, strict=True)):
        level = 6 + i % 97  # never 5: every product changes
        world.bindo.set_stock(bindo_store, bindo_id, h.BINDO_LOCATION, level)
        wanted[bc_id] = level
    return merchant_id, wanted


def mismatches(world, wanted: dict[int, int]) -> int:
    with world.bc.lock:
        stock = world.bc.store(STORE).stock
        return sum(1 for bc_id, level in wanted.items() if stock.get((bc_id, 1)) != level)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument(
        "--apply-delay", type=float, default=0.0, help="simulator inventory_apply_delay (s)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    h.banner(f"bench_stock: {args.size:,} level changes, quota 150 per 30 s")
    with h.bench_run("bench-stock-", inventory_apply_delay=args.apply_delay) as r:
        started = time.perf_counter()
        merchant_id, wanted = setup(r.app, r.world, args.size)
        print(f"   set-up: {args.size:,} bound products in {time.perf_counter() - started:.1f} s")
        return run(r.app, r.world, merchant_id, wanted, args)


def run(app, world, merchant_id: int, wanted: dict[int, int], args) -> int:
    from worker.jobs.stock import push_stock

    before = mismatches(world, wanted)
    mark = len(h.request_log(world, STORE))
    started = time.perf_counter()
    summary = push_stock(merchant_id, None)
    pushed = time.perf_counter() - started
    matched = h.wait_until(lambda: mismatches(world, wanted) == 0, timeout=120, interval=0.05)
    settled = time.perf_counter() - started
    traffic = h.traffic_since(world, STORE, mark)
    print(f"   levels differing before the push: {before:,}")
    print(f"   job summary: {summary}")
    print(
        f"   BigCommerce requests: {traffic.requests} ({traffic.by_endpoint}), "
        f"429s {traffic.limited}"
    )
    print(f"   push job finished in {pushed:.2f} s; BigCommerce matched after {settled:.2f} s"
          f"{'' if matched else ' (NOT all matched within 120 s)'}")  # fmt: skip
    print(f"   throughput: {len(wanted) / pushed:,.0f} level changes/s through the job")
    ok = traffic.requests <= 5 and traffic.limited == 0 and bool(matched)
    print(f"   target <= 5 requests for 10,000 changes, 0 429s: {traffic.requests} -> "
          f"{h.verdict(ok) if len(wanted) == 10_000 else 'n/a at this size'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
