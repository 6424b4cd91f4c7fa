"""Products with variants: requests per created product, per changed variant, per unchanged
product, and for the stock of every variant.

Run: .venv/bin/python bench/bench_variants.py [--size 1000] [--variants 6] [--window-ms 5000]

Set-up: N Bindo products with 3 images each and V variants each (Size x Colour, own SKU, some
with their own price and weight, stock per variant), categories already in the store. Our
engine runs in-process exactly as the RQ jobs do (worker.jobs.catalog.full_sync,
worker.jobs.stock.push_stock); both simulators are served over loopback with a compressed quota
(150 per 5 s by default).

Phases (each on a quiet quota window):
  initial   - every product created with its options and variants
  stock     - the level of every variant pushed (absolute adjustments by variant_id)
  update    - the price of 10 % of the variants changed in Bindo, full re-sync
  unchanged - full re-sync with nothing changed
Targets: <= 1.0 request per created product, <= 0.02 per changed variant, 0 for unchanged,
stock for all N x V variants in <= 3 requests (for 1,000 x 6), 0 429s.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import _harness as h
from bench_catalog import Phase, measure, quiet, run_ours

STORE = "variants"
# Reads made once per run whatever its size (as in bench_catalog: "+4 per run"): the store's
# weight unit, the empty-store probe, the category tree and its list.
PER_RUN = frozenset(
    {
        "GET /v2/store",
        "GET /v3/catalog/products",
        "GET /v3/catalog/trees",
        "GET /v3/catalog/trees/categories",
    }
)


def per_unit(p: Phase) -> float:
    """Requests per unit, the once-per-run reads left out (they are printed separately)."""
    fixed = sum(n for k, n in p.by_endpoint.items() if k in PER_RUN)
    return (p.requests - fixed) / p.products if p.products else float("nan")


SIZES = ("S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "6XL", "7XL")
COLOURS = ("Red", "Blue", "Green")


def create_catalog(world, size: int, variants: int, images: int, names: list[str]) -> list:
    """N products x V variants in the Bindo simulator; returns (product id, variant ids)."""
    sizes = SIZES[: max(1, min(len(SIZES), (variants + len(COLOURS) - 1) // len(COLOURS)))]
    combos = [(s, c) for c in COLOURS for s in sizes][:variants]
    options = [
        {"name": "Size", "values": list(sizes)},
        {"name": "Colour", "values": sorted({c for _, c in combos})},
    ]
    created = []
    for i in range(size):
        rows: list[dict[str, Any]] = []
        for n, (s, c) in enumerate(combos):
            row: dict[str, Any] = {
                "option_values": [{"option": "Size", "value": s}, {"option": "Colour", "value": c}],
                "sku": f"V{i:06d}-{s}-{c}",
                "stock": {h.BINDO_LOCATION: str((i + n) % 40)},
            }
            if n % 3 == 1:
                row["price"] = f"{(i % 50) + 20}.00"
            if n % 3 == 2:
                row["custom_attributes"] = [{"name": "Weight", "value": f"{n + 1}00 g"}]
            rows.append(row)
        product = world.bindo.create_product(
            f"bindo-{STORE}",
            image_count=images,
            image_base_url=world.bindo_url,
            name=f"Variant product {i:06d}",
            description=f"<p>Benchmark product {i} in {len(rows)} variants.</p>",
            price=f"{(i % 300) + 9.99:.2f}",
            sku=f"VP-{i:06d}",
            category=names[i % len(names)],
            custom_attributes=[{"name": "Weight", "value": f"{(i % 5) + 1} lb"}],
            options=options,
            variants=rows,
        )
        created.append((product["id"], [v["id"] for v in product["variants"]]))
    return created


def push_all_stock(app, merchant_id: int) -> dict[str, Any]:
    from worker.jobs.stock import push_stock

    with app.app_context():
        return push_stock(merchant_id, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="products")
    parser.add_argument("--variants", type=int, default=6, help="variants per product")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--changed", type=float, default=0.10, help="share of variants repriced")
    parser.add_argument("--quota", type=int, default=150)
    parser.add_argument("--window-ms", type=int, default=5000)
    parser.add_argument(
        "--storefronts",
        choices=("one", "multi"),
        default="one",
        help="the store's kind: one storefront, or Multi-Storefront (created products then "
        "need one channel assignment per batch)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    h.quiet_logs()
    window_s = args.window_ms / 1000
    rate = args.quota / window_s
    h.banner(
        f"bench_variants: {args.size:,} products x {args.variants} variants x {args.images} "
        f"images, quota {args.quota} per {args.window_ms} ms ({rate:,.0f} req/s), "
        f"{args.storefronts} storefront(s)"
    )
    with h.bench_run("bench-variants-", quota=args.quota, window_ms=args.window_ms) as r:
        return run(r.app, r.world, args, window_s, rate)


def run(app, world, args, window_s: float, rate: float) -> int:
    names = h.category_names(args.categories)
    merchant_id = h.link_merchant(app, world, STORE, multi_storefront=args.storefronts == "multi")
    h.create_categories(world, STORE, names)
    started = time.perf_counter()
    catalog = create_catalog(world, args.size, args.variants, args.images, names)
    total_variants = sum(len(v) for _, v in catalog)
    print(
        f"   set-up: {len(catalog):,} Bindo products, {total_variants:,} variants in "
        f"{time.perf_counter() - started:.1f} s"
    )
    every = max(1, round(1 / args.changed)) if args.changed else 0
    flat = [(pid, vid) for pid, vids in catalog for vid in vids]
    changed = flat[::every] if every else []
    phases: list[Phase] = []

    quiet(window_s)
    phases.append(
        measure(world, STORE, "initial", "ours", len(catalog), rate,
                lambda: run_ours(app, merchant_id, "initial"))
    )  # fmt: skip
    quiet(window_s)
    phases.append(
        measure(world, STORE, "stock", "ours", total_variants, rate,
                lambda: push_all_stock(app, merchant_id))
    )  # fmt: skip
    for pid, vid in changed:
        world.bindo.update_variant(f"bindo-{STORE}", pid, vid, price="77.70")
    quiet(window_s)
    phases.append(
        measure(world, STORE, "update", "ours", len(changed), rate,
                lambda: run_ours(app, merchant_id, "full"))
    )  # fmt: skip
    quiet(window_s)
    phases.append(
        measure(world, STORE, "unchanged", "ours", len(catalog), rate,
                lambda: run_ours(app, merchant_id, "full"))
    )  # fmt: skip
    report(world, phases, catalog, changed, total_variants)
    return 0


def report(world, phases: list[Phase], catalog, changed, total_variants: int) -> None:
    by = {p.name: p for p in phases}
    store = world.bc.store(STORE)
    with world.bc.lock:
        products, variants = len(store.products), len(store.variants)
        priced = sum(1 for v in store.variants.values() if v["price"] == 77.7)
        levels_ok = sum(
            1 for v in store.variants.values() if store.variant_stock.get((v["id"], 1)) is not None
        )
    print()
    print(f"   BigCommerce after the runs: {products:,} products, {variants:,} variants, "
          f"{priced:,} repriced variants ({len(changed):,} changed in Bindo), "
          f"{levels_ok:,} variant levels")  # fmt: skip
    print(
        f"   {'phase':10} {'units':>7} {'requests':>9} {'req/unit':>9} {'excl. per-run':>13} "
        f"{'429s':>5} {'time s':>8}"
    )
    for p in phases:
        print(f"   {p.name:10} {p.products:>7,} {p.requests:>9,} {p.per_product:>9.4f} "
              f"{per_unit(p):>13.4f} {p.limited:>5} {p.elapsed:>8.1f}")  # fmt: skip
    print()
    for p in phases:
        top = ", ".join(f"{k}: {v}" for k, v in sorted(p.by_endpoint.items()))
        print(f"   {p.name} requests by endpoint: {top}")
        if p.counts:
            print(f"   {p.name} outcome counts: {p.counts}")
    print()
    print("   (targets per unit leave out the reads made once per run, listed above)")
    targets = [
        ("requests per created product <= 1.0", per_unit(by["initial"]) <= 1.0,
         f"{per_unit(by['initial']):.4f}"),
        ("requests per changed variant <= 0.02", per_unit(by["update"]) <= 0.02,
         f"{per_unit(by['update']):.4f} ({by['update'].requests} for {len(changed)})"),
        ("requests per unchanged product == 0", per_unit(by["unchanged"]) == 0,
         f"{per_unit(by['unchanged']):.4f} ({by['unchanged'].requests} per run)"),
        (f"stock for {total_variants:,} variants <= 3 requests", by["stock"].requests <= 3,
         str(by["stock"].requests)),
        ("0 429s", all(p.limited == 0 for p in phases), str(sum(p.limited for p in phases))),
    ]  # fmt: skip
    for label, ok, value in targets:
        print(f"   target {label:44} {value:>24}  {h.verdict(ok)}")


if __name__ == "__main__":
    raise SystemExit(main())
