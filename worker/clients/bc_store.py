"""Store endpoints of the BigCommerce client: store facts, inventory and locations, orders
and webhooks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from worker.clients.bc_core import BATCH_ITEM_ERRORS, BigCommerceCore
from worker.clients.errors import ApiError

INVENTORY_BATCH = 2000  # Inventory API maximum items per adjustment request
# Inventory errors name items as "items.3" or "items[3]" (position in the request).
_ITEM_RE = re.compile(r"^items(?:\.|\[)(\d+)")


class StoreEndpoints(BigCommerceCore):
    """``/v2/store``, ``/v2/time``, ``/v3/inventory``, orders (v2 and v3) and ``/v3/hooks``."""

    # ---------------------------------------------------------------- store

    def get_store(self) -> dict[str, Any]:
        """``GET /v2/store``: units, currency, plan, default channel."""
        return self.request("GET", "/v2/store").data

    def get_time(self) -> int:
        """``GET /v2/time``: the store's Unix time; a cheap credential check."""
        data = self.request("GET", "/v2/time").data or {}
        return int(data.get("time", 0))

    # ---------------------------------------------------------------- inventory

    def set_absolute_levels(
        self, items: Sequence[Mapping[str, Any]], reason: str
    ) -> dict[int, ApiError]:
        """Set on-hand stock (``{product_id|variant_id|sku, location_id, quantity}``).

        Batches of 2000, strictly one after another: the Inventory API asks for each 200 before
        the next write. Absolute levels make retries safe. One bad item does not block the
        others: BigCommerce refuses a whole adjustment (400/404/422) when one item is invalid (a
        product deleted meanwhile, a tracking mismatch). Such a batch is split, by the item
        positions the error names (``items.3``) or else in halves, until the refused items are
        isolated; every other item is written. Returns {input position: error} of the refused
        items; errors about the whole store (401, 403, retryable) are raised.
        """
        refused: dict[int, ApiError] = {}
        for start in range(0, len(items), INVENTORY_BATCH):
            positions = list(range(start, min(start + INVENTORY_BATCH, len(items))))
            self._absolute_isolating(items, positions, reason, refused)
        return refused

    def _absolute_isolating(
        self,
        items: Sequence[Mapping[str, Any]],
        positions: list[int],
        reason: str,
        refused: dict[int, ApiError],
    ) -> None:
        body = {"reason": reason, "items": [dict(items[pos]) for pos in positions]}
        try:
            self.request("PUT", "/v3/inventory/adjustments/absolute", json=body)
            return
        except BATCH_ITEM_ERRORS as exc:
            if len(positions) == 1:
                refused[positions[0]] = exc
                return
            named: dict[int, dict[str, Any]] = {}
            for key, message in (exc.errors or {}).items():
                match = _ITEM_RE.match(str(key))
                if match and int(match.group(1)) < len(positions):
                    named.setdefault(int(match.group(1)), {})[str(key)] = message
            if named and len(named) < len(positions):
                for index, item_errors in named.items():
                    refused[positions[index]] = self._item_error(exc, item_errors)
                rest = [pos for index, pos in enumerate(positions) if index not in named]
                self._absolute_isolating(items, rest, reason, refused)
                return
            mid = len(positions) // 2
            self._absolute_isolating(items, positions[:mid], reason, refused)
            self._absolute_isolating(items, positions[mid:], reason, refused)

    def list_locations(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._iter_v3("/v3/inventory/locations", filters))

    # ---------------------------------------------------------------- orders (v2)

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v2/orders/{int(order_id)}").data

    def get_order_products(self, order_id: int) -> list[dict[str, Any]]:
        return list(self._iter_v2(f"/v2/orders/{int(order_id)}/products"))

    def get_order_shipping_addresses(self, order_id: int) -> list[dict[str, Any]]:
        return list(self._iter_v2(f"/v2/orders/{int(order_id)}/shipping_addresses"))

    def get_order_refunds(self, order_id: int) -> list[dict[str, Any]]:
        """Refunds of one order, oldest first (v3 ``payment_actions/refunds``)."""
        resp = self.request("GET", f"/v3/orders/{int(order_id)}/payment_actions/refunds")
        return list(resp.data or [])  # not paginated (the spec has no page/limit)

    def get_order_coupons(self, order_id: int) -> list[dict[str, Any]]:
        return list(self._iter_v2(f"/v2/orders/{int(order_id)}/coupons"))

    def iter_orders(self, min_date_modified: datetime, **filters: Any) -> Iterator[dict[str, Any]]:
        """Orders modified at or after ``min_date_modified`` (naive datetimes are taken as UTC)."""
        if min_date_modified.tzinfo is None:
            min_date_modified = min_date_modified.replace(tzinfo=UTC)
        params = {"min_date_modified": min_date_modified.isoformat(), **filters}
        return self._iter_v2("/v2/orders", params)

    def update_order_status(self, order_id: int, status_id: int) -> dict[str, Any]:
        body = {"status_id": int(status_id)}
        return self.request("PUT", f"/v2/orders/{int(order_id)}", json=body).data

    # ---------------------------------------------------------------- webhooks

    def list_hooks(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._iter_v3("/v3/hooks", filters))

    def create_hook(
        self,
        scope: str,
        destination: str,
        headers: Mapping[str, str] | None,
        is_active: bool = True,
    ) -> dict[str, Any]:
        body = {
            "scope": scope,
            "destination": destination,
            "is_active": is_active,
            "headers": dict(headers) if headers else None,
        }
        return self.request("POST", "/v3/hooks", json=body).data

    def update_hook(self, hook_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("PUT", f"/v3/hooks/{int(hook_id)}", json=fields).data

    def delete_hook(self, hook_id: int) -> None:
        self.request("DELETE", f"/v3/hooks/{int(hook_id)}")
