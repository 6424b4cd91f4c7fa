"""HTTP client for one BigCommerce store (REST v2 and v3), with pacing, retries and a breaker.

Knows HTTP and Redis only: configuration comes in through the constructor. Every call goes
through :meth:`BigCommerceClient.request`, which owns the retry policy described in
``docs/bigcommerce-client.md``; the high-level methods return plain dicts and lists.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from worker.clients.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    PartialSuccess,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from worker.clients.pacing import (
    CircuitBreaker,
    RatePacer,
    backoff_delay,
    has_rate_headers,
    rate_limit_wait_seconds,
)

logger = logging.getLogger("worker.clients.bigcommerce")

SERVICE = "bigcommerce"
STORE_HASH_RE = re.compile(r"^[a-z0-9]+$")

PAGE_LIMIT = 250  # max `limit` on v3 lists and (by analogy) v2 lists, CONTRACT §3.4, §8.1
PRODUCT_BATCH = 10  # PUT /v3/catalog/products accepts at most 10 items (413 beyond)
VARIANT_BATCH = 50  # PUT /v3/catalog/variants accepts at most 50 items (413 beyond)
SKU_CHUNK = 50  # max ids per `sku:in` is unconfirmed: keep URLs modest
CATEGORY_BATCH = 50  # trees batch limit is unconfirmed; 50 is the documented trees upsert cap
CHANNEL_ASSIGNMENT_BATCH = 500  # maximum UNCONFIRMED: keep requests modest
INVENTORY_BATCH = 2000  # Inventory API maximum items per adjustment request
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
# 5xx and timeouts: the contract asks for >= 1 min between retries of a failed job.
FINAL_RETRY_AFTER = 60.0

# Methods that may change state twice if repeated (PUT/DELETE here are absolute, so idempotent).
NON_IDEMPOTENT = frozenset({"POST", "PATCH"})
# Item-level refusals of a batch: split the batch to find the culprits.
BATCH_ITEM_ERRORS = (ValidationFailed, Conflict, NotFound)

_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: ValidationFailed,
    409: Conflict,
    413: ValidationFailed,
    415: ValidationFailed,
    422: ValidationFailed,
}
_INDEX_RE = re.compile(r"^(?:[a-z_]*\[)?(\d+)(?:\]|\.|$)", re.IGNORECASE)
# Inventory errors name items as "items.3" or "items[3]" (position in the request).
_ITEM_RE = re.compile(r"^items(?:\.|\[)(\d+)")
_ID_SEGMENT_RE = re.compile(r"/\d+(?=/|$)")


@dataclass
class ApiResponse:
    """One successful answer: v3 ``data``/``meta`` unwrapped, v2 bodies as ``data``.

    ``errors`` holds the per-item errors of a 207 (partial save), else ``{}``.
    """

    status: int
    data: Any
    meta: dict[str, Any]
    headers: Mapping[str, str]
    errors: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    """Per-item outcome of a batch write: key -> saved row (dict) or the ``ApiError`` for it.

    Keys are product ids for :meth:`BigCommerceClient.update_products` and input positions for
    :meth:`BigCommerceClient.create_categories` (new rows have no id yet).
    """

    results: dict[int, dict[str, Any] | ApiError] = field(default_factory=dict)

    @property
    def succeeded(self) -> dict[int, dict[str, Any]]:
        return {k: v for k, v in self.results.items() if not isinstance(v, ApiError)}

    @property
    def failed(self) -> dict[int, ApiError]:
        return {k: v for k, v in self.results.items() if isinstance(v, ApiError)}

    @property
    def ok(self) -> bool:
        return not self.failed


def path_template(path: str) -> str:
    """``/v3/catalog/products/12/images`` -> ``/v3/catalog/products/{id}/images`` for logs."""
    return _ID_SEGMENT_RE.sub("/{id}", path)


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


def _sent_nothing(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request could have been sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError | NameResolutionError):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            cur = reason
            continue
        args = getattr(cur, "args", ())
        nxt = args[0] if args and isinstance(args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False


class BigCommerceClient:
    """Client for one store. Thread-safe as far as ``requests.Session`` is (one per worker)."""

    def __init__(
        self,
        api_url: str,
        store_hash: str,
        access_token: str,
        *,
        pacer: RatePacer | None = None,
        breaker: CircuitBreaker | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_request: Callable[[str, str, int | str, float, float], None] | None = None,
    ) -> None:
        # Validate before the hash is ever interpolated into a URL (path injection, SSRF).
        if not isinstance(store_hash, str) or not STORE_HASH_RE.match(store_hash):
            raise ValueError("invalid store hash: expected lowercase letters and digits only")
        self.store_hash = store_hash
        self._base = f"{api_url.rstrip('/')}/stores/{store_hash}"
        self._token = access_token
        self._pacer = pacer
        self._breaker = breaker
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._rng = rng
        # Told of every attempt: (store, "METHOD /template", status or error name, seconds,
        # seconds paced); the worker passes portal.metrics' recorder (this module knows none).
        self._on_request = on_request

    def __repr__(self) -> str:  # never show the token
        return f"BigCommerceClient(store_hash={self.store_hash!r})"

    # ---------------------------------------------------------------- core

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"X-Auth-Token": self._token, "Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP, rng=self._rng)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> ApiResponse:
        """Send one logical request, retrying per the policy; return it or raise an ApiError."""
        method = method.upper()
        template = path_template(path)
        label = f"{method} {template}"
        url = self._base + path
        failures = 0  # 5xx / timeouts / bare 429s: bounded by max_attempts
        rate_waits = 0  # 429s that told us how long to wait: bounded separately
        while True:
            if self._breaker is not None:
                self._breaker.check(self.store_hash)
            waited = 0.0
            if self._pacer is not None:
                waited = self._pacer.before_request(self.store_hash) or 0.0
            started = time.monotonic()
            try:
                resp = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=self._headers(json is not None),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if self._pacer is not None:
                    self._pacer.release(self.store_hash)
                elapsed = (time.monotonic() - started) * 1000
                kind = type(exc).__name__
                logger.debug("%s -> %s after %.0f ms", label, kind, elapsed)
                if self._on_request is not None:
                    self._on_request(self.store_hash, label, kind, elapsed / 1000, waited)
                if self._breaker is not None:
                    self._breaker.record_failure(self.store_hash)
                not_sent = isinstance(exc, requests.exceptions.ConnectionError) and _sent_nothing(
                    exc
                )
                failures += 1
                # A POST that may have reached the server must not be repeated blindly: the
                # caller looks the entity up (e.g. by SKU) before trying again.
                if method in NON_IDEMPOTENT and not not_sent:
                    raise TransportError(
                        f"{label}: {kind}; the request may have been processed",
                        retry_after=FINAL_RETRY_AFTER,
                        service=SERVICE,
                    ) from None
                if failures >= self._max_attempts:
                    raise TransportError(
                        f"{label}: {kind} after {failures} attempts",
                        retry_after=FINAL_RETRY_AFTER,
                        service=SERVICE,
                    ) from None
                self._sleep(self._backoff(failures - 1))
                continue
            except BaseException:
                if self._pacer is not None:
                    self._pacer.release(self.store_hash)
                raise

            elapsed = (time.monotonic() - started) * 1000
            status = resp.status_code
            logger.debug("%s -> %s in %.0f ms", label, status, elapsed)
            if self._on_request is not None:
                self._on_request(self.store_hash, label, status, elapsed / 1000, waited)
            if self._pacer is not None:
                self._pacer.after_response(self.store_hash, status, resp.headers)

            if status == 429:
                wait = rate_limit_wait_seconds(resp.headers)
                if wait is not None and has_rate_headers(resp.headers):
                    # Quota spent: not a fault of the store, so the breaker is not told.
                    rate_waits += 1
                    if rate_waits >= self._max_attempts:
                        raise RateLimited(
                            f"{label}: still rate limited after {rate_waits} waits",
                            status=429,
                            retry_after=wait,
                            service=SERVICE,
                        )
                    logger.info("%s -> 429; waiting %.1f s for the quota reset", label, wait)
                    if self._pacer is None:
                        self._sleep(wait)
                    # With a pacer, before_request waits out the block it just recorded, and
                    # every other worker on this store waits with us.
                    continue
                # A 429 without rate headers means platform overload: back off progressively.
                if self._breaker is not None:
                    self._breaker.record_failure(self.store_hash)
                failures += 1
                if failures >= self._max_attempts:
                    raise RateLimited(
                        f"{label}: 429 without rate headers after {failures} attempts",
                        status=429,
                        retry_after=BACKOFF_CAP,
                        service=SERVICE,
                    )
                self._sleep(self._backoff(failures - 1))
                continue

            if status >= 500:
                if self._breaker is not None:
                    self._breaker.record_failure(self.store_hash)
                failures += 1
                # Only a 503 says the request was not processed; other 5xx on POST may have
                # created the entity.
                retry_ok = method not in NON_IDEMPOTENT or status == 503
                if not retry_ok or failures >= self._max_attempts:
                    raise self._error(ServerError, resp, label, retry_after=FINAL_RETRY_AFTER)
                self._sleep(self._backoff(failures - 1))
                continue

            # Any other answer means the store is reachable and healthy.
            if self._breaker is not None:
                self._breaker.record_success(self.store_hash)

            if 200 <= status < 300:
                return self._success(resp, label)
            if 300 <= status < 400:
                raise ApiError(
                    f"{label}: unexpected redirect {status} (redirects are not followed)",
                    status=status,
                    service=SERVICE,
                )
            raise self._error(_STATUS_ERRORS.get(status, ApiError), resp, label)

    def _success(self, resp: requests.Response, label: str) -> ApiResponse:
        status = resp.status_code
        if status == 204 or not resp.content.strip():
            return ApiResponse(status=status, data=None, meta={}, headers=resp.headers)
        try:
            body = resp.json()
        except ValueError:
            raise TransportError(
                f"{label}: {status} with a body that is not JSON",
                status=status,
                retry_after=FINAL_RETRY_AFTER,
                service=SERVICE,
            ) from None
        if isinstance(body, dict) and "data" in body:
            meta = body.get("meta") or {}
            errors = body.get("errors") or {}
            return ApiResponse(
                status=status,
                data=body["data"],
                meta=meta if isinstance(meta, dict) else {},
                headers=resp.headers,
                errors=errors if isinstance(errors, dict) else {"errors": errors},
            )
        return ApiResponse(status=status, data=body, meta={}, headers=resp.headers)

    def _error(
        self,
        cls: type[ApiError],
        resp: requests.Response,
        label: str,
        *,
        retry_after: float | None = None,
    ) -> ApiError:
        """Build a typed error from a v3 ``{status,title,errors}`` or v2 ``[{message}]`` body."""
        status = resp.status_code
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        title = ""
        errors: dict[str, Any] = {}
        if isinstance(body, dict):
            title = str(body.get("title") or body.get("message") or "")
            raw = body.get("errors")
            if isinstance(raw, dict):
                errors = raw
            elif isinstance(raw, list):
                errors = {str(i): e for i, e in enumerate(raw)}
        elif isinstance(body, list):
            # v2 errors: [{"status": 400, "message": "..."}]
            messages = [e.get("message", "") if isinstance(e, dict) else str(e) for e in body]
            errors = {str(i): m for i, m in enumerate(messages)}
            title = messages[0] if messages else ""
        message = f"{label}: {status} {title}".rstrip()
        kwargs: dict[str, Any] = {
            "status": status,
            "errors": errors,
            "body": body,
            "service": SERVICE,
            "title": title,
        }
        if issubclass(cls, ServerError | RateLimited | TransportError):
            kwargs["retry_after"] = retry_after if retry_after is not None else FINAL_RETRY_AFTER
        return cls(message, **kwargs)

    # ---------------------------------------------------------------- paging helpers

    def _iter_v3(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a v3 collection, page by page (limit 250)."""
        query = dict(params or {})
        query.setdefault("limit", PAGE_LIMIT)
        page = int(query.pop("page", 1))
        while True:
            resp = self.request("GET", path, params={**query, "page": page})
            rows = resp.data or []
            yield from rows
            pagination = resp.meta.get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if total_pages is not None:
                if page >= int(total_pages):
                    return
            elif len(rows) < int(query["limit"]):
                return
            if not rows:
                return
            page += 1

    def _iter_v2(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a v2 list: pages until a short page; 204 and ``[]`` both mean empty."""
        query = dict(params or {})
        query.setdefault("limit", PAGE_LIMIT)
        page = 1
        while True:
            resp = self.request("GET", path, params={**query, "page": page})
            rows = resp.data if isinstance(resp.data, list) else []
            yield from rows
            if len(rows) < int(query["limit"]):
                return
            page += 1

    # ---------------------------------------------------------------- store

    def get_store(self) -> dict[str, Any]:
        """``GET /v2/store``: units, currency, plan, default channel."""
        return self.request("GET", "/v2/store").data

    def get_time(self) -> int:
        """``GET /v2/time``: the store's Unix time; a cheap credential check."""
        data = self.request("GET", "/v2/time").data or {}
        return int(data.get("time", 0))

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

    def _split_refused(
        self,
        chunk: list[dict[str, Any]],
        exc: ApiError,
        result: BatchResult,
        resend: Callable[[list[dict[str, Any]], BatchResult], None],
        key: Callable[[dict[str, Any]], int],
    ) -> None:
        """A batch was refused as a whole: isolate the bad items and re-send the rest."""
        if len(chunk) == 1:
            result.results[key(chunk[0])] = exc
            return
        blamed = self._blame_positions(chunk, exc.errors)
        if blamed and len(blamed) < len(chunk):
            # The error names the culprits: fail exactly those and re-send the others.
            for pos in blamed:
                result.results[key(chunk[pos])] = self._item_error(exc, blamed[pos])
            rest = [item for pos, item in enumerate(chunk) if pos not in blamed]
            resend(rest, result)
            return
        # The error does not say which item is wrong: bisect.
        mid = len(chunk) // 2
        resend(chunk[:mid], result)
        resend(chunk[mid:], result)

    @staticmethod
    def _blame_positions(chunk: list[dict[str, Any]], errors: Mapping[str, Any]) -> dict[int, Any]:
        """Map error keys such as ``"3"``, ``"[3].sku"``, ``"data[3]"`` or an id to positions."""
        positions: dict[int, Any] = {}
        ids = {int(item["id"]): pos for pos, item in enumerate(chunk) if "id" in item}
        for raw_key, message in errors.items():
            match = _INDEX_RE.match(str(raw_key).strip())
            if not match:
                continue
            n = int(match.group(1))
            if 0 <= n < len(chunk):
                positions.setdefault(n, {})[str(raw_key)] = message
            elif n in ids:
                positions.setdefault(ids[n], {})[str(raw_key)] = message
        return positions

    @staticmethod
    def _item_error(exc: ApiError, item_errors: dict[str, Any]) -> ApiError:
        return type(exc)(
            exc.message,
            status=exc.status,
            errors=item_errors,
            body=exc.body,
            service=exc.service,
            title=getattr(exc, "title", ""),
        )

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
