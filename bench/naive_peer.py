"""A naive peer: the catalog pushed the way a straightforward integration does it.

Per product on the first push: one category lookup (``GET /v3/catalog/trees/categories?name=``),
one create without images, one ``POST .../images`` per image. On every re-sync: one ``PUT`` per
product, with no change detection. Its only rate-limit behaviour is to sleep the
``X-Rate-Limit-Time-Reset-Ms`` header after a 429 and try again. Used by bench_catalog.py as
the yardstick for our engine; never by the product.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

MAX_ATTEMPTS = 50  # per request; bounded, so a broken simulator cannot loop forever


@dataclass
class NaiveStats:
    requests: int = 0
    limited: int = 0
    slept: float = 0.0


class NaivePeer:
    def __init__(self, bc_url: str, store_hash: str, token: str) -> None:
        self.base = f"{bc_url.rstrip('/')}/stores/{store_hash}"
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token, "Accept": "application/json"})
        self.stats = NaiveStats()
        self.bc_ids: dict[int, int] = {}  # bindo id -> BigCommerce product id

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for _ in range(MAX_ATTEMPTS):
            resp = self.session.request(method, self.base + path, timeout=30, **kwargs)
            self.stats.requests += 1
            if resp.status_code != 429:
                if resp.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
                return resp
            self.stats.limited += 1
            wait = int(resp.headers.get("X-Rate-Limit-Time-Reset-Ms", "1000")) / 1000
            self.stats.slept += wait
            time.sleep(wait)
        raise RuntimeError(f"{method} {path}: still rate limited after {MAX_ATTEMPTS} tries")

    @staticmethod
    def _payload(record: dict[str, Any], category_id: int | None) -> dict[str, Any]:
        weight = 0.0
        for attr in record.get("custom_attributes") or ():
            if attr["name"].strip().lower() == "weight":
                match = re.match(r"\s*([0-9.]+)", attr["value"])
                weight = float(match.group(1)) if match else 0.0
        payload: dict[str, Any] = {
            "name": record["name"],
            "type": "physical",
            "sku": record.get("sku") or "",
            "price": float(record["price"]),
            "weight": weight,
            "description": record.get("description") or "",
            "inventory_tracking": "product",
            "is_visible": True,
        }
        if category_id is not None:
            payload["categories"] = [category_id]
        return payload

    def push_new(self, record: dict[str, Any]) -> None:
        """Category lookup, create, then one POST per image."""
        category_id = None
        if record.get("category"):
            found = self._call(
                "GET", "/v3/catalog/trees/categories", params={"name": record["category"]}
            ).json()["data"]
            category_id = found[0]["category_id"] if found else None
        created = self._call(
            "POST", "/v3/catalog/products", json=self._payload(record, category_id)
        )
        bc_id = int(created.json()["data"]["id"])
        self.bc_ids[int(record["id"])] = bc_id
        for image in sorted(record.get("images") or (), key=lambda i: i["position"]):
            self._call(
                "POST",
                f"/v3/catalog/products/{bc_id}/images",
                json={
                    "image_url": image["url"],
                    "is_thumbnail": image["position"] == 1,
                    "sort_order": image["position"],
                },
            )

    def push_again(self, record: dict[str, Any], category_id: int | None) -> None:
        """Re-sync: one PUT per product whether or not anything changed."""
        bc_id = self.bc_ids[int(record["id"])]
        self._call("PUT", f"/v3/catalog/products/{bc_id}", json=self._payload(record, category_id))


def bindo_products(bindo_url: str, store_id: str, token: str) -> Iterator[dict[str, Any]]:
    """Every Bindo product, read the plain way (pages of 250)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    page = 1
    for _ in range(10_000):  # bounded
        resp = session.get(
            f"{bindo_url}/api/v1/stores/{store_id}/products",
            params={"page": page, "per_page": 250},
            timeout=30,
        )
        resp.raise_for_status()
        body = resp.json()
        rows = body.get("data") or []
        yield from rows
        if len(rows) < 250:
            return
        page += 1


def full_push(peer: NaivePeer, records: list[dict[str, Any]]) -> None:
    for record in records:
        peer.push_new(record)


def full_resync(peer: NaivePeer, records: list[dict[str, Any]], categories: dict[str, int]) -> None:
    """A naive re-sync still knows nothing: it looks categories up from its own first run
    (kept in memory, which is generous) and PUTs every product."""
    for record in records:
        peer.push_again(record, categories.get(record.get("category") or ""))
