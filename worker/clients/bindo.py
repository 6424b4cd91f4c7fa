"""HTTP client of the Bindo POS API (docs/bindo-api.md); knows HTTP, nothing of Flask or the DB.

Failures surface as the typed errors of ``worker.clients.errors`` with ``service="bindo"``,
after the retries of the policy both clients share (worker/clients/retry.py). Every Bindo
write is de-duplicated by the server (orders and refunds by reference, a cancel is a no-op the
second time, a customer's email is unique, a webhook URL replaces its own subscription), so
every request may be repeated.
The token travels only in the Authorization header: it never appears in errors or logs.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

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
from worker.clients.retry import RetryPolicy

log = logging.getLogger(__name__)

SERVICE = "bindo"
BATCH_SIZE = 100  # ids per request: keeps URLs short and matches per_page
PER_PAGE = 100
# Bindo's POSTs carry their own idempotency (see above): all may be repeated after a failure.
RETRY = RetryPolicy(deduplicated=("/",))

Record = dict[str, Any]

_FINAL_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: ValidationFailed,
    422: ValidationFailed,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); 0 if absent."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(ids: Iterable[int], size: int = BATCH_SIZE) -> Iterator[list[int]]:
    batch: list[int] = []
    for item in ids:
        batch.append(int(item))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _join(ids: Iterable[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


class BindoClient:
    """One Bindo store's API: ``{api_url}/api/v1/stores/{store_id}/...``."""

    def __init__(
        self,
        api_url: str,
        store_id: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy = RETRY,
    ) -> None:
        self.base = f"{api_url.rstrip('/')}/api/v1/stores/{store_id}"
        self.store_id = store_id
        self._token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retry = retry

    def __repr__(self) -> str:  # no token here: reprs end up in logs and tracebacks
        return f"BindoClient(base={self.base!r})"

    # -- transport --------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[Any, requests.Response]:
        """Send one request; returns (parsed JSON or None for 204, response) or raises.

        A retryable failure is tried again as the shared policy says, then surfaces."""
        failures = 0
        while True:
            try:
                return self._attempt(method, path, params, json)
            except (ServerError, RateLimited, TransportError) as exc:
                if isinstance(exc, TransportError) and exc.status is not None:
                    raise  # an answer we cannot read: sending it again would not help
                failures += 1
                delay = self.retry.wait(
                    failures, method, path, status=exc.status, retry_after=exc.retry_after
                )
                if delay is None:
                    raise
                log.info("bindo %s %s failed (%s); again in %.1f s", method, path, exc, delay)
                self.retry.sleep(delay)

    def _attempt(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any
    ) -> tuple[Any, requests.Response]:
        where = f"{method} {path}"
        try:
            resp = self.session.request(
                method,
                self.base + path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise TransportError(f"bindo {where}: timed out", service=SERVICE) from None
        except requests.RequestException as exc:
            # Exception text can carry the URL and more; keep only its kind.
            raise TransportError(f"bindo {where}: {type(exc).__name__}", service=SERVICE) from None
        if resp.status_code == 204:
            return None, resp
        payload = self._json(resp, where)
        if resp.status_code >= 400:
            raise self._error(resp, payload, where)
        if not isinstance(payload, dict):
            raise TransportError(
                f"bindo {where}: unexpected body", status=resp.status_code, service=SERVICE
            )
        return payload, resp

    def _json(self, resp: requests.Response, where: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            if resp.status_code >= 400:
                return None  # an HTML error page from a proxy still maps by status
            raise TransportError(
                f"bindo {where}: answered {resp.status_code} with a body that is not JSON",
                status=resp.status_code,
                service=SERVICE,
            ) from None

    def _error(self, resp: requests.Response, payload: Any, where: str) -> ApiError:
        status = resp.status_code
        # A server that echoes the token must not leak it into the rows errors are stored on.
        payload = self._scrub(payload)
        detail: dict[str, Any] = {}
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            detail = payload["error"]
        message = f"bindo {where}: {status} {detail.get('message') or resp.reason or 'error'}"
        body = payload if isinstance(payload, dict) else None
        kwargs: dict[str, Any] = {"status": status, "errors": detail, "body": body}
        log.info("bindo %s answered %s (%s)", where, status, detail.get("code", ""))
        if status == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            return RateLimited(message, retry_after=retry_after, service=SERVICE, **kwargs)
        if status >= 500:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            return ServerError(message, retry_after=retry_after, service=SERVICE, **kwargs)
        error_class = _FINAL_BY_STATUS.get(status, ValidationFailed)
        return error_class(message, service=SERVICE, **kwargs)

    def _scrub(self, value: Any) -> Any:
        """``value`` with every occurrence of the token masked (strings in dicts and lists)."""
        if isinstance(value, str):
            return value.replace(self._token, "***") if self._token else value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _get_data(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        payload, _ = self._request("GET", path, params=params)
        return payload["data"]

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[Record]:
        """Every item of a paginated list, page after page until ``total_pages``."""
        page = 1
        while True:
            payload, _ = self._request(
                "GET", path, params={**params, "page": page, "per_page": PER_PAGE}
            )
            yield from payload["data"]
            meta = payload.get("meta") or {}
            if page >= int(meta.get("total_pages") or 0) or not payload["data"]:
                return
            page += 1

    # -- catalog and stock ------------------------------------------------------------

    def list_locations(self) -> list[Record]:
        return list(self._get_data("/locations"))

    def iter_products(
        self,
        updated_since: datetime | str | None = None,
        ids: Iterable[int] | None = None,
        include_deleted: bool = True,
    ) -> Iterator[Record]:
        """Products ordered by id; ``updated_since`` is inclusive (expect repeats at the edge)."""
        params: dict[str, Any] = {"include_deleted": "true" if include_deleted else "false"}
        if updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        if ids is None:
            yield from self._pages("/products", params)
            return
        for batch in _chunks(ids):
            yield from self._pages("/products", {**params, "ids": _join(batch)})

    def product_page(
        self, page: int, updated_since: datetime | str | None = None
    ) -> tuple[list[Record], int]:
        """One page (PER_PAGE products ordered by id, deleted ones included) and the total.

        Ids only grow and deleted products stay listed, so page N holds the same products on
        every read: a resumable sync keeps its place as a position (page = pos // PER_PAGE).
        """
        params: dict[str, Any] = {"include_deleted": "true", "page": page, "per_page": PER_PAGE}
        if updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        payload, _ = self._request("GET", "/products", params=params)
        return list(payload["data"]), int((payload.get("meta") or {}).get("total") or 0)

    def get_product(self, product_id: int) -> Record:
        return self._get_data(f"/products/{int(product_id)}")

    def get_products(self, ids: Iterable[int]) -> list[Record]:
        """Products by id (deleted ones included), fetched 100 ids per request."""
        return list(self.iter_products(ids=ids, include_deleted=True))

    def get_stock(
        self, location_id: int, product_ids: Iterable[int] | None = None
    ) -> dict[int, Decimal]:
        """Quantity per product id at one location (Decimal: may be fractional or negative).

        Products with variants count stock per variant (their rows carry ``variant_id``):
        those rows are left out here, see :meth:`get_variant_stock`."""
        stock: dict[int, Decimal] = {}
        for row in self._stock_rows(location_id, product_ids):
            if row.get("variant_id") is None:
                stock[int(row["product_id"])] = self._decimal(row["quantity"], "/stock")
        return stock

    def get_variant_stock(
        self, location_id: int, product_ids: Iterable[int] | None = None
    ) -> dict[int, Decimal]:
        """Quantity per variant id at one location, for products with variants."""
        stock: dict[int, Decimal] = {}
        for row in self._stock_rows(location_id, product_ids):
            if row.get("variant_id") is not None:
                stock[int(row["variant_id"])] = self._decimal(row["quantity"], "/stock")
        return stock

    def _stock_rows(self, location_id: int, product_ids: Iterable[int] | None) -> Iterator[Record]:
        params: dict[str, Any] = {"location_id": int(location_id)}
        batches: Iterable[list[int] | None] = (
            [None] if product_ids is None else _chunks(product_ids)
        )
        for batch in batches:
            query = params if batch is None else {**params, "product_ids": _join(batch)}
            yield from self._pages("/stock", query)

    @staticmethod
    def _decimal(raw: Any, where: str) -> Decimal:
        try:
            return Decimal(str(raw))
        except (InvalidOperation, ValueError):
            raise TransportError(
                f"bindo GET {where}: quantity {raw!r} is not a decimal", service=SERVICE
            ) from None

    # -- customers --------------------------------------------------------------------

    def find_customer_by_email(self, email: str) -> Record | None:
        """The customer with this email (Bindo matches case-insensitively), or None."""
        found = self._get_data("/customers", {"email": email})
        return found[0] if found else None

    def create_customer(
        self,
        *,
        email: str,
        first_name: str = "",
        last_name: str = "",
        phone: str | None = None,
        address: Mapping[str, Any] | None = None,
    ) -> Record:
        """Create a customer; an existing email raises ``Conflict`` (look it up instead)."""
        body = {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "address": dict(address or {}),
        }
        payload, _ = self._request("POST", "/customers", json=body)
        return payload["data"]

    def get_customer(self, customer_id: int) -> Record:
        return self._get_data(f"/customers/{int(customer_id)}")

    # -- orders -----------------------------------------------------------------------

    def create_order(self, order: Mapping[str, Any]) -> tuple[Record, bool]:
        """Create an order idempotently by ``external_reference``; returns (order, replayed)."""
        payload, resp = self._request("POST", "/orders", json=dict(order))
        replayed = resp.headers.get("Idempotent-Replayed", "").lower() == "true"
        return payload["data"], replayed or resp.status_code == 200

    def get_order(self, order_id: int) -> Record:
        return self._get_data(f"/orders/{int(order_id)}")

    def find_order_by_reference(self, external_reference: str) -> Record | None:
        found = self._get_data("/orders", {"external_reference": external_reference})
        return found[0] if found else None

    def cancel_order(self, order_id: int, *, restock: bool = True) -> Record:
        """Cancel (a no-op on an already cancelled order: no second restock)."""
        payload, _ = self._request(
            "POST", f"/orders/{int(order_id)}/cancel", json={"restock": restock}
        )
        return payload["data"]

    def create_refund(
        self,
        order_id: int,
        *,
        reference: str,
        line_items: Sequence[Mapping[str, int]],
        restock: bool = True,
        amount: Decimal | str | None = None,
    ) -> tuple[Record, bool]:
        """Refund lines ``[{"line_item_id", "quantity"}]``; returns (refund, replayed)."""
        body: dict[str, Any] = {
            "reference": reference,
            "line_items": [dict(item) for item in line_items],
            "restock": restock,
        }
        if amount is not None:
            body["amount"] = str(amount)
        payload, resp = self._request("POST", f"/orders/{int(order_id)}/refunds", json=body)
        return payload["data"], resp.status_code == 200

    # -- webhook subscriptions ---------------------------------------------------------

    def list_webhooks(self) -> list[Record]:
        return list(self._pages("/webhooks", {}))

    def create_webhook(self, url: str, events: Sequence[str]) -> Record:
        """Subscribe ``url`` (the same url again just replaces its events)."""
        payload, _ = self._request("POST", "/webhooks", json={"url": url, "events": list(events)})
        return payload["data"]

    def delete_webhook(self, webhook_id: int) -> None:
        self._request("DELETE", f"/webhooks/{int(webhook_id)}")
