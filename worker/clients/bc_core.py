"""The request core of the BigCommerce client: one logical request with pacing, retries and a
breaker, v2/v3 paging, and the splitting of refused batch writes.

Knows HTTP and Redis only: configuration comes in through the constructor. Every call goes
through :meth:`BigCommerceCore.request`, which applies the retry policy of both clients
(worker/clients/retry.py, docs/bigcommerce-client.md). The endpoints are in ``bc_catalog``
and ``bc_store``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from worker.clients.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from worker.clients.pacing import (
    CircuitBreaker,
    RatePacer,
    has_rate_headers,
    rate_limit_wait_seconds,
)
from worker.clients.retry import RetryPolicy

logger = logging.getLogger("worker.clients.bigcommerce")

SERVICE = "bigcommerce"
STORE_HASH_RE = re.compile(r"^[a-z0-9]+$")

PAGE_LIMIT = 250  # max `limit` on v3 lists and (by analogy) v2 lists, CONTRACT §3.4, §8.1
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
# 5xx and timeouts: the contract asks for >= 1 min between retries of a failed job.
FINAL_RETRY_AFTER = 60.0

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


class BigCommerceCore:
    """The HTTP state of one store and the request loop every endpoint group builds on."""

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
        max_quota_wait: float | None = None,
        calls_per_job: int = 1,
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
        # BigCommerce de-duplicates no POST: a POST is repeated only when it was not sent or
        # was refused unprocessed (503, bare 429).
        self._retry = RetryPolicy(
            attempts=max_attempts, base=BACKOFF_BASE, cap=BACKOFF_CAP, sleep=sleep, rng=rng
        )
        # Told of every attempt: (store, "METHOD /template", status or error name, seconds,
        # seconds paced); the worker passes portal.metrics' recorder (this module knows none).
        self._on_request = on_request
        # None: wait for the quota as long as it takes. A job that must not hold its worker
        # that long sets a bound: a longer wait raises QuotaSpent and the job is deferred to
        # when its ``calls_per_job`` calls are reserved (worker/clients/pacing.py).
        self._max_quota_wait = max_quota_wait
        self._calls_per_job = calls_per_job

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(store_hash={self.store_hash!r})"

    # ---------------------------------------------------------------- core

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"X-Auth-Token": self._token, "Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

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
                waited = self._pacer.before_request(
                    self.store_hash, self._max_quota_wait, self._calls_per_job
                )
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
                delay = self._retry.wait(failures, method, path, sent=not not_sent)
                if delay is None:
                    # A POST that may have reached the server is not repeated blindly: the
                    # caller looks the entity up (e.g. by SKU) before trying again.
                    maybe_done = not self._retry.repeatable(
                        method, path, sent=not not_sent, status=None
                    )
                    raise TransportError(
                        f"{label}: {kind}; the request may have been processed"
                        if maybe_done
                        else f"{label}: {kind} after {failures} attempts",
                        retry_after=FINAL_RETRY_AFTER,
                        service=SERVICE,
                    ) from None
                self._retry.sleep(delay)
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
                    if rate_waits >= self._retry.attempts:
                        raise RateLimited(
                            f"{label}: still rate limited after {rate_waits} waits",
                            status=429,
                            retry_after=wait,
                            service=SERVICE,
                        )
                    logger.info("%s -> 429; waiting %.1f s for the quota reset", label, wait)
                    if self._pacer is None:
                        self._retry.sleep(wait)
                    # With a pacer, before_request waits out the block it just recorded, and
                    # every other worker on this store waits with us.
                    continue
                # A 429 without rate headers means platform overload: back off progressively.
                if self._breaker is not None:
                    self._breaker.record_failure(self.store_hash)
                failures += 1
                delay = self._retry.wait(failures, method, path, status=429)
                if delay is None:
                    raise RateLimited(
                        f"{label}: 429 without rate headers after {failures} attempts",
                        status=429,
                        retry_after=BACKOFF_CAP,
                        service=SERVICE,
                    )
                self._retry.sleep(delay)
                continue

            if status >= 500:
                if self._breaker is not None:
                    self._breaker.record_failure(self.store_hash)
                failures += 1
                # Only a 503 says the request was not processed; other 5xx on POST may have
                # created the entity.
                delay = self._retry.wait(failures, method, path, status=status)
                if delay is None:
                    raise self._error(ServerError, resp, label, retry_after=FINAL_RETRY_AFTER)
                self._retry.sleep(delay)
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

    # ---------------------------------------------------------------- batch splitting

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
