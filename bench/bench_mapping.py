"""Products mapped per second on one core: map_product + build_create_payload + payload_hash.

Run: .venv/bin/python bench/bench_mapping.py [--products 50000]. Target >= 20,000/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.mapping import (  # noqa: E402  (path set up above for direct runs)
    MappingSettings,
    build_create_payload,
    map_product,
    payload_hash,
)

TARGET_PER_SECOND = 20_000
WEIGHTS = ("2 lb", "500 g", "1,5 kg", "12 oz", "3", "2.5LBS", None)
CATEGORIES = ("Shoes > Running", "Apparel > Tops > T-Shirts", None, "Sale")


def build_products(count: int) -> list[dict[str, Any]]:
    """Varied, realistic products: some with weights, categories, several images."""
    products = []
    for i in range(count):
        attributes = []
        weight = WEIGHTS[i % len(WEIGHTS)]
        if weight is not None:
            attributes.append({"name": "Weight", "value": weight})
        if i % 5 == 0:
            attributes.append({"name": " category ", "value": "Clearance > Shoes"})
        attributes.append({"name": "Colour", "value": "Blue"})
        products.append(
            {
                "id": 100_000 + i,
                "name": f"Trail Runner {i}",
                "description": f"<p>Light trail shoe number {i}, breathable mesh.</p>" * 4,
                "price": f"{(i % 997) + 0.5:.2f}",
                "sku": f"SKU-{i}" if i % 3 else None,
                "upc": f"{i:012d}" if i % 2 else None,
                "kind": "upc" if i % 2 else "custom",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "custom_attributes": attributes,
                "images": [
                    {
                        "id": 9_000_000 + i * 3 + k,
                        "url": f"http://127.0.0.1:5200/images/{9_000_000 + i * 3 + k}.png",
                        "position": 3 - k,
                    }
                    for k in range(i % 4)
                ],
                "in_store_only": False,
                "deleted": False,
                "updated_at": "2026-11-26T21:00:00Z",
            }
        )
    return products


def run(count: int) -> float:
    products = build_products(count)
    settings = MappingSettings("KGS", default_category_id=1)
    category_ids = [23]
    started = time.perf_counter()
    for product in products:
        mapped = map_product(product, settings)
        payload_hash(build_create_payload(mapped, category_ids), mapped.images)
    elapsed = time.perf_counter() - started
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=50_000)
    args = parser.parse_args()
    rate = run(args.products)
    verdict = "OK" if rate >= TARGET_PER_SECOND else "BELOW TARGET"
    print(
        f"mapped {args.products:,} products: {rate:,.0f} products/s "
        f"(target {TARGET_PER_SECOND:,}/s) {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
