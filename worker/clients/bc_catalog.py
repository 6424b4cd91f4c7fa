"""Catalog endpoints of the BigCommerce client: products, channels, variants, options,
images and categories (the batch writes split refused batches through the core)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from worker.clients.bc_core import (
    BATCH_ITEM_ERRORS,
    SERVICE,
    ApiResponse,
    BatchResult,
    BigCommerceCore,
    logger,
)
from worker.clients.errors import ApiError, PartialSuccess, ValidationFailed

PRODUCT_BATCH = 10  # PUT /v3/catalog/products accepts at most 10 items (413 beyond)
VARIANT_BATCH = 50  # PUT /v3/catalog/variants accepts at most 50 items (413 beyond)
SKU_CHUNK = 50  # max ids per `sku:in` is unconfirmed: keep URLs modest
CATEGORY_BATCH = 50  # trees batch limit is unconfirmed; 50 is the documented trees upsert cap
CHANNEL_ASSIGNMENT_BATCH = 500  # maximum UNCONFIRMED: keep requests modest


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _errors_map(errors: Mapping[str, Any]) -> dict[str, Any]:
    """The field/index -> message map inside a 207 ``errors`` block (object or list form)."""
    inner = errors.get("errors")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, list):
        # A list of error objects: their positions are not item positions.
        return {f"error{i}": e for i, e in enumerate(inner)}
    return dict(errors)


class CatalogEndpoints(BigCommerceCore):
    """``/v3/catalog/...`` and ``/v3/channels``."""

    # ---------------------------------------------------------------- products

    def iter_products(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Products matching v3 filters (``sku``, ``upc``, ``id:in``, ``include`` ...)."""
        return self._iter_v3("/v3/catalog/products", filters)

    def list_products(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.iter_products(**filters))

    def get_product(self, product_id: int, include: str | None = "images") -> dict[str, Any]:
        params = {"include": include} if include else None
        return self.request("GET", f"/v3/catalog/products/{int(product_id)}", params=params).data

    def count_products(self) -> int:
        """How many products the store has (one cheap request: limit 1, ids only)."""
        answer = self.request(
            "GET", "/v3/catalog/products", params={"limit": 1, "include_fields": "id"}
        )
        return int((answer.meta.get("pagination") or {}).get("total") or 0)

    def find_products_by_skus(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        """Products whose product-level SKU is in ``skus`` (BigCommerce compares case-blind)."""
        unique = list(dict.fromkeys(s for s in skus if s))
        # A comma inside a SKU would split the `sku:in` list, so such SKUs go one by one.
        listable = [s for s in unique if "," not in s]
        single = [s for s in unique if "," in s]
        found: list[dict[str, Any]] = []
        for chunk in _chunks(listable, SKU_CHUNK):
            found.extend(self.iter_products(**{"sku:in": ",".join(chunk)}))
        for sku in single:
            found.extend(self.iter_products(sku=sku))
        return found

    def find_products_by_upc(self, upc: str) -> list[dict[str, Any]]:
        return self.list_products(upc=upc)

    def create_product(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v3/catalog/products`` (one product). A 207 still returns the saved product;
        its errors are logged (the caller re-sends the stock, CONTRACT §7.1)."""
        resp = self.request("POST", "/v3/catalog/products", json=dict(payload))
        if resp.status == 207:
            logger.warning("product created with partial errors: %s", sorted(resp.errors))
        return resp.data

    def assign_channels(self, product_ids: Sequence[int], channel_ids: Sequence[int]) -> None:
        """``PUT /v3/catalog/products/channel-assignments`` (204): every product on every
        channel, 500 assignments a request, one after another (BigCommerce asks for no
        parallel assignment calls with the same products). Idempotent."""
        pairs = [
            {"product_id": int(p), "channel_id": int(c)} for p in product_ids for c in channel_ids
        ]
        for chunk in _chunks(pairs, CHANNEL_ASSIGNMENT_BATCH):
            self.request("PUT", "/v3/catalog/products/channel-assignments", json=chunk)

    def list_channels(self) -> list[dict[str, Any]]:
        return list(self._iter_v3("/v3/channels"))

    def update_product(self, product_id: int, payload: Mapping[str, Any]) -> dict[str, Any]:
        resp = self.request("PUT", f"/v3/catalog/products/{int(product_id)}", json=dict(payload))
        if resp.status == 207:
            logger.warning("product updated with partial errors: %s", sorted(resp.errors))
        return resp.data

    def delete_product(self, product_id: int) -> None:
        """Exists for completeness: the sync never deletes products."""
        self.request("DELETE", f"/v3/catalog/products/{int(product_id)}")

    def update_products(self, items: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Batch update through ``PUT /v3/catalog/products`` in chunks of 10.

        Each item needs ``id``. A chunk refused as a whole (400/404/409/413/422) is split until
        the bad items are isolated, so one bad product never fails the others; a 207 marks only
        the items its errors point at. Failures that concern the whole store (401, 403,
        retryable errors, open circuit) are raised: the PUTs are absolute, so re-running the
        whole batch is safe.
        """
        result = BatchResult()
        rows = [dict(item) for item in items]
        for row in rows:
            if "id" not in row:
                raise ValueError("every item of update_products needs an 'id'")
        for chunk in _chunks(rows, PRODUCT_BATCH):
            self._update_chunk(chunk, result)
        return result

    def _update_chunk(self, chunk: list[dict[str, Any]], result: BatchResult) -> None:
        try:
            resp = self.request("PUT", "/v3/catalog/products", json=chunk)
        except BATCH_ITEM_ERRORS as exc:
            self._split_refused(chunk, exc, result, self._update_chunk, key=lambda r: int(r["id"]))
            return
        saved = {int(r["id"]): r for r in (resp.data or []) if isinstance(r, dict) and "id" in r}
        blamed = self._blame_207(chunk, resp) if resp.status == 207 else {}
        for pos, item in enumerate(chunk):
            pid = int(item["id"])
            if pos in blamed:
                result.results[pid] = blamed[pos]
            else:
                result.results[pid] = saved.get(pid, item)

    def _blame_207(self, chunk: list[dict[str, Any]], resp: ApiResponse) -> dict[int, ApiError]:
        """Per-item errors of a 207; unattributable errors apply to every item of the chunk."""
        title = str(resp.errors.get("title") or "partial success")
        detail = _errors_map(resp.errors)
        positions = self._blame_positions(chunk, detail)
        if not positions:
            positions = dict.fromkeys(range(len(chunk)), detail)
        return {
            pos: PartialSuccess(
                f"PUT /v3/catalog/products: 207 {title}",
                status=207,
                errors=errs,
                body=None,
                service=SERVICE,
                title=title,
            )
            for pos, errs in positions.items()
        }

    # ---------------------------------------------------------------- variants

    def find_variants(self, **filters: Any) -> list[dict[str, Any]]:
        """``GET /v3/catalog/variants`` (filters ``sku``, ``upc``, ``product_id:in`` ...)."""
        return list(self._iter_v3("/v3/catalog/variants", filters))

    def find_variants_by(self, name: str, values: Sequence[str]) -> list[dict[str, Any]]:
        """Variants whose ``sku`` or ``upc`` is in ``values``: ``<name>:in`` per 50, values
        holding a comma one by one (they would split the list)."""
        unique = list(dict.fromkeys(v for v in values if v))
        found: list[dict[str, Any]] = []
        for chunk in _chunks([v for v in unique if "," not in v], SKU_CHUNK):
            found.extend(self.find_variants(**{f"{name}:in": ",".join(chunk)}))
        for value in (v for v in unique if "," in v):
            found.extend(self.find_variants(**{name: value}))
        return found

    def list_product_options(self, product_id: int) -> list[dict[str, Any]]:
        return list(self._iter_v3(f"/v3/catalog/products/{int(product_id)}/options"))

    def create_option(
        self, product_id: int, display_name: str, labels: Sequence[str]
    ) -> dict[str, Any]:
        """A variant option with its values, on a product that has no variants yet."""
        body = {
            "display_name": display_name,
            "type": "rectangles",
            "option_values": [{"label": v, "sort_order": i} for i, v in enumerate(labels)],
        }
        path = f"/v3/catalog/products/{int(product_id)}/options"
        return self.request("POST", path, json=body).data

    def create_option_value(
        self, product_id: int, option_id: int, label: str, sort_order: int = 0
    ) -> dict[str, Any]:
        path = f"/v3/catalog/products/{int(product_id)}/options/{int(option_id)}/values"
        body = {"label": label, "sort_order": sort_order}
        return self.request("POST", path, json=body).data

    def update_variants(self, items: Sequence[Mapping[str, Any]]) -> BatchResult:
        """``PUT /v3/catalog/variants`` in chunks of 50; keys are input positions.

        Items are updates (``id``) or creates (``product_id``, ``sku``, ``option_values``).
        A chunk refused as a whole is split until the bad items are isolated, as for
        products; store-wide failures are raised (the writes are absolute: re-running is
        safe, and a repeated create meets its own SKU: the caller links it).
        """
        rows = [dict(item) for item in items]
        position = {id(row): pos for pos, row in enumerate(rows)}
        result = BatchResult()

        def send(chunk: list[dict[str, Any]], into: BatchResult) -> None:
            try:
                resp = self.request("PUT", "/v3/catalog/variants", json=chunk)
            except BATCH_ITEM_ERRORS as exc:
                self._split_refused(chunk, exc, into, send, key=lambda r: position[id(r)])
                return
            saved = [r for r in (resp.data or []) if isinstance(r, dict)]
            for pos, item in enumerate(chunk):
                row = saved[pos] if len(saved) == len(chunk) else item
                into.results[position[id(item)]] = row

        for chunk in _chunks(rows, VARIANT_BATCH):
            send(chunk, result)
        return result

    # ---------------------------------------------------------------- images

    def list_images(self, product_id: int) -> list[dict[str, Any]]:
        """Images of a product; 204 (no images) gives ``[]``."""
        return list(self._iter_v3(f"/v3/catalog/products/{int(product_id)}/images"))

    def create_image(
        self, product_id: int, image_url: str, is_thumbnail: bool = False, sort_order: int = 0
    ) -> dict[str, Any]:
        body = {"image_url": image_url, "is_thumbnail": is_thumbnail, "sort_order": sort_order}
        path = f"/v3/catalog/products/{int(product_id)}/images"
        return self.request("POST", path, json=body).data

    def update_image(self, product_id: int, image_id: int, **fields: Any) -> dict[str, Any]:
        path = f"/v3/catalog/products/{int(product_id)}/images/{int(image_id)}"
        return self.request("PUT", path, json=fields).data

    def delete_image(self, product_id: int, image_id: int) -> None:
        self.request("DELETE", f"/v3/catalog/products/{int(product_id)}/images/{int(image_id)}")

    # ---------------------------------------------------------------- categories

    def get_default_tree_id(self, channel_id: int = 1) -> int | None:
        """Id of the category tree of ``channel_id`` (1 = default storefront), or None."""
        for tree in self._iter_v3("/v3/catalog/trees", {"channel_id:in": int(channel_id)}):
            if int(channel_id) in (tree.get("channels") or []):
                return int(tree["id"])
        return None

    def iter_categories(self, tree_id: int) -> Iterator[dict[str, Any]]:
        """Flat list of a tree's categories (``category_id``, ``parent_id``, ``name`` ...)."""
        return self._iter_v3("/v3/catalog/trees/categories", {"tree_id:in": int(tree_id)})

    def create_categories(self, items: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Batch ``POST /v3/catalog/trees/categories``; result keyed by position in ``items``.

        Each item needs ``name`` and ``tree_id`` (top level) or ``parent_id``. A batch refused
        as a whole created nothing, so it is split to isolate the bad items; a 207 matches the
        created rows back to the inputs by name and parent and fails the rest.
        """
        result = BatchResult()
        indexed = [{"_pos": pos, **dict(item)} for pos, item in enumerate(items)]
        for chunk in _chunks(indexed, CATEGORY_BATCH):
            self._create_category_chunk(chunk, result)
        return result

    def _create_category_chunk(self, chunk: list[dict[str, Any]], result: BatchResult) -> None:
        payload = [{k: v for k, v in item.items() if k != "_pos"} for item in chunk]
        try:
            resp = self.request("POST", "/v3/catalog/trees/categories", json=payload)
        except BATCH_ITEM_ERRORS as exc:
            # Re-map blame positions (relative to this chunk) onto the stripped payload.
            self._split_refused(
                chunk, exc, result, self._create_category_chunk, key=lambda r: int(r["_pos"])
            )
            return

        def match_key(row: Mapping[str, Any]) -> tuple[str, Any]:
            parent = row.get("parent_id") or 0
            return (str(row.get("name", "")).casefold(), parent if parent else row.get("tree_id"))

        rows_out = [row for row in (resp.data or []) if isinstance(row, dict)]
        if resp.status != 207 and len(rows_out) == len(chunk):
            # Full success: the API answers in request order.
            for item, row in zip(chunk, rows_out, strict=True):
                result.results[item["_pos"]] = row
            return
        created: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for row in rows_out:
            created.setdefault(match_key(row), []).append(row)
        blamed = self._blame_positions(chunk, _errors_map(resp.errors))
        for pos, item in enumerate(chunk):
            rows = created.get(match_key(item))
            if rows and pos not in blamed:
                result.results[item["_pos"]] = rows.pop(0)
            else:
                errs = blamed.get(pos) or resp.errors or {"name": "not created"}
                result.results[item["_pos"]] = ValidationFailed(
                    f"POST /v3/catalog/trees/categories: {resp.status} category not created",
                    status=resp.status,
                    errors=errs if isinstance(errs, dict) else {"error": errs},
                    service=SERVICE,
                )
