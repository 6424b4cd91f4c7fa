"""Catalog sync: requests per product, 429s, quota use and time vs the quota-bound minimum,
against a naive peer (bench/naive_peer.py) on the same simulator with the same quota.

Run: .venv/bin/python bench/bench_catalog.py [--size 10000] [--window-ms 5000] [--no-naive]

The 150-requests-per-30-s quota is compressed in time (default 150 per 5 s, 6x faster than
real) so a 10,000-product run takes minutes. On an idle machine the engine plus simulators
outrun 30 req/s, so the time ratio measures pacing; on a loaded one it measures the CPU (use a
longer --window-ms there). Our engine runs in-process exactly as the RQ job does
(worker.jobs.catalog.full_sync(run_id)); both simulators are served over loopback.

Phases (each on a quiet quota window):
  initial   - every product created (3 images each, categories already in the store)
  update    - a field (price) changed on 10 % of the products in Bindo, full re-sync
  unchanged - full re-sync with nothing changed
Targets: <= 1.0 request per created product, <= 0.1 per updated product, 0 per unchanged
product, 0 429s, finished within 1.1x the quota-bound minimum (requests / quota rate).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from typing import Any

import _harness as h
from naive_peer import NaivePeer, bindo_products, full_push, full_resync

STORE, NAIVE_STORE = "ours", "naive"


@dataclass
class Phase:
    name: str
    who: str
    products: int  # products this phase is about (created / changed / unchanged)
    requests: int
    limited: int
    elapsed: float
    quota_min: float  # requests / quota rate
    by_endpoint: dict[str, int]
    counts: dict[str, Any] | None = None

    @property
    def per_product(self) -> float:
        return self.requests / self.products if self.products else float("nan")

    @property
    def ratio(self) -> float:
        return self.elapsed / self.quota_min if self.quota_min else float("nan")


def run_ours(app, merchant_id: int, kind: str) -> tuple[float, dict[str, Any]]:
    from portal.extensions import db
    from portal.models import SyncRun
    from worker.jobs.catalog import full_sync

    with app.app_context():
        run = SyncRun(merchant_id=merchant_id, kind=kind, state="queued")
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    started = time.perf_counter()
    counts = full_sync(run_id)
    elapsed = time.perf_counter() - started
    with app.app_context():
        run = db.session.get(SyncRun, run_id)
        if run.state != "finished":
            raise SystemExit(f"our sync run ended {run.state}: {run.error}")
    return elapsed, counts


def measure(world, store, name, who, products, rate, action) -> Phase:
    mark = len(h.request_log(world, store))
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    if isinstance(result, tuple):  # ours: (elapsed of the job, counts)
        elapsed, counts = result
    else:
        counts = None
    traffic = h.traffic_since(world, store, mark)
    return Phase(
        name, who, products, traffic.requests, traffic.limited, elapsed,
        traffic.requests / rate, traffic.by_endpoint, counts,
    )  # fmt: skip


def quiet(window_s: float) -> None:
    """Let the current quota window run out so the next phase starts on a fresh one."""
    time.sleep(window_s + 0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="products (full run: 10000)")
    parser.add_argument("--quota", type=int, default=150)
    parser.add_argument(
        "--window-ms", type=int, default=5000, help="quota window (30000 = real time)"
    )
    parser.add_argument("--categories", type=int, default=50)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.10, help="share changed for 'update'")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive peer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    h.quiet_logs()

    window_s = args.window_ms / 1000
    rate = args.quota / window_s  # requests per second the quota allows
    h.banner(
        f"bench_catalog: {args.size:,} products x {args.images} images, {args.categories} "
        f"existing categories, quota {args.quota} per {args.window_ms} ms ({rate:,.0f} req/s)"
    )
    with h.bench_run("bench-catalog-", quota=args.quota, window_ms=args.window_ms) as r:
        return run(r.app, r.world, args, window_s, rate)


def run(app, world, args, window_s: float, rate: float) -> int:
    from portal.extensions import db
    from portal.models import Merchant

    names = h.category_names(args.categories)
    merchant_id = h.link_merchant(app, world, STORE)
    h.create_categories(world, STORE, names)
    setup = time.perf_counter()
    ids = h.create_bindo_catalog(world, STORE, args.size, images=args.images, categories=names)
    print(f"   set-up: {len(ids):,} Bindo products in {time.perf_counter() - setup:.1f} s")
    naive = None
    if not args.no_naive:
        naive_store = world.bc.create_store(NAIVE_STORE, weight_units="LBS")
        naive_categories = h.create_categories(world, NAIVE_STORE, names)
        naive = NaivePeer(world.bc_url, NAIVE_STORE, naive_store.access_token)
    bindo_store = world.bindo.store(f"bindo-{STORE}")

    def naive_records() -> list[dict[str, Any]]:
        return list(bindo_products(world.bindo_url, bindo_store.store_id, bindo_store.token))

    phases: list[Phase] = []
    changed = ids[:: max(1, round(1 / args.changed))] if args.changed else []
    plan = [
        ("initial", len(ids), None),
        ("update", len(changed), "change"),
        ("unchanged", len(ids), None),
    ]
    for name, products, before in plan:
        if before == "change":
            for bindo_id in changed:
                world.bindo.update_product(bindo_store.store_id, bindo_id, price="1234.50")
        quiet(window_s)
        kind = "initial" if name == "initial" else "full"
        phase = measure(
            world, STORE, name, "ours", products, rate, lambda k=kind: run_ours(app, merchant_id, k)
        )
        phases.append(phase)
        print(f"   ours  {name:9} done: {phase.requests:,} requests in {phase.elapsed:.1f} s")
        if naive is not None:
            quiet(window_s)
            if name == "initial":
                phase = measure(
                    world, NAIVE_STORE, name, "naive", products, rate,
                    lambda: full_push(naive, naive_records()),
                )  # fmt: skip
            else:
                phase = measure(
                    world, NAIVE_STORE, name, "naive", products, rate,
                    lambda: full_resync(naive, naive_records(), naive_categories),
                )  # fmt: skip
            phases.append(phase)
            print(f"   naive {name:9} done: {phase.requests:,} requests in {phase.elapsed:.1f} s")

    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        bound = len(world.bc.store(STORE).products)
        assert merchant is not None
    report(phases, args, bound, window_s)
    return 0


def report(phases: list[Phase], args, bound: int, window_s: float) -> None:
    ours = {p.name: p for p in phases if p.who == "ours"}
    naive = {p.name: p for p in phases if p.who == "naive"}
    print()
    print(f"   BigCommerce products in our store after the runs: {bound:,}")
    print(
        f"   {'phase':10} {'who':6} {'products':>9} {'requests':>9} {'req/prod':>9} "
        f"{'429s':>5} {'time s':>8} {'min s':>8} {'x min':>6} {'quota used':>10}"
    )
    for p in phases:
        used = p.requests / (p.elapsed / window_s * args.quota) if p.elapsed else float("nan")
        print(
            f"   {p.name:10} {p.who:6} {p.products:>9,} {p.requests:>9,} {p.per_product:>9.4f} "
            f"{p.limited:>5} {p.elapsed:>8.1f} {p.quota_min:>8.1f} {p.ratio:>6.2f} {used:>10.0%}"
        )
    print()
    for p in phases:
        if p.who == "ours":
            top = ", ".join(f"{k}: {v}" for k, v in sorted(p.by_endpoint.items()))
            print(f"   ours {p.name} requests by endpoint: {top}")
            if p.counts:
                print(f"   ours {p.name} outcome counts: {p.counts}")
    print()
    targets = [
        ("requests per created product <= 1.0", ours["initial"].per_product <= 1.0,
         f"{ours['initial'].per_product:.4f}"),
        ("requests per updated product <= 0.1", ours["update"].per_product <= 0.1,
         f"{ours['update'].per_product:.4f}"),
        ("requests per unchanged product == 0", ours["unchanged"].requests == 0,
         f"{ours['unchanged'].per_product:.4f} ({ours['unchanged'].requests} requests per run)"),
        ("0 429s", all(p.limited == 0 for p in ours.values()),
         str(sum(p.limited for p in ours.values()))),
        ("initial sync within 1.1x quota-bound minimum", ours["initial"].ratio <= 1.1,
         f"{ours['initial'].ratio:.3f}x"),
    ]  # fmt: skip
    for label, ok, value in targets:
        print(f"   target {label:48} {value:>28}  {h.verdict(ok)}")
    if naive:
        print()
        for name in ("initial", "update", "unchanged"):
            o, n = ours[name], naive[name]
            print(
                f"   vs naive, {name:9}: requests {o.requests:,} / {n.requests:,} = "
                f"{o.requests / n.requests if n.requests else float('nan'):.3f}; time "
                f"{o.elapsed:.1f} / {n.elapsed:.1f} s = {o.elapsed / n.elapsed:.3f}; "
                f"naive 429s {n.limited:,}"
            )
        total_o = sum(p.requests for p in ours.values())
        total_n = sum(p.requests for p in naive.values())
        time_o = sum(p.elapsed for p in ours.values())
        time_n = sum(p.elapsed for p in naive.values())
        print(
            f"   vs naive, all three: requests {total_o / total_n:.3f}x, "
            f"time {time_o / time_n:.3f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
