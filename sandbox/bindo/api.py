"""The public Bindo REST API (``/api/v1/stores/<store_id>/...``), served from ``SimState``."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from sandbox.bindo.state import SimError, SimState, Store, invalid

bp = Blueprint("bindo_api", __name__, url_prefix="/api/v1/stores/<store_id>")


def sim() -> SimState:
    return current_app.extensions["bindosim"]


def error_response(status: int, code: str, message: str) -> Response:
    resp = jsonify({"error": {"code": code, "message": message}})
    resp.status_code = status
    return resp


@bp.errorhandler(SimError)
def _sim_error(exc: SimError) -> Response:
    return error_response(exc.status, exc.code, exc.message)


@bp.url_value_preprocessor
def _pull_store(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.store_id = (values or {}).pop("store_id", None)


@bp.before_request
def _authenticate() -> Response | None:
    state = sim()
    fault = state.take_api_fault(request.path)
    if fault is not None:
        return fault_response(fault)
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    with state.lock:
        store: Store | None = state.stores.get(g.store_id)
        if store is None:
            return error_response(404, "not_found", "store not found")
        if token is None or token != store.token:
            return error_response(401, "unauthorized", "missing or invalid access token")
    return current_app.extensions["bindosim_ratelimit"].check(token)


def fault_response(fault: dict[str, Any]) -> Response | None:
    """Answer an injected fault: sleep (for client timeouts), then the status or body."""
    if fault["delay"]:
        time.sleep(fault["delay"])
    if fault["status"] is None:
        return None  # a pure delay: serve the real answer late
    if fault["body"] is not None:
        return Response(fault["body"], status=fault["status"], mimetype="text/html")
    resp = error_response(fault["status"], "injected_fault", "simulated failure")
    if fault["retry_after"] is not None:
        resp.headers["Retry-After"] = str(fault["retry_after"])
    return resp


# -- helpers ---------------------------------------------------------------------------


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SimError(400, "bad_request", "the body must be a JSON object")
    return data


def id_list(name: str) -> list[int] | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise SimError(400, "bad_request", f"{name} must be comma-separated ids") from None


def flag(name: str, default: bool = False) -> bool:
    raw = request.args.get(name)
    return default if raw is None else raw.lower() in ("1", "true", "yes")


def parse_iso(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(400, "bad_request", f"not an ISO-8601 time: {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def paginate(items: list[Any]) -> dict[str, Any]:
    cfg = sim().config
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", cfg.default_per_page))
    except ValueError:
        raise SimError(400, "bad_request", "page and per_page must be integers") from None
    if page < 1 or not 1 <= per_page <= cfg.max_per_page:
        raise SimError(400, "bad_request", f"page >= 1 and 1 <= per_page <= {cfg.max_per_page}")
    chunk = items[(page - 1) * per_page : page * per_page]
    meta = {
        "page": page,
        "per_page": per_page,
        "total": len(items),
        "total_pages": math.ceil(len(items) / per_page),
    }
    return {"data": chunk, "meta": meta}


def base_url() -> str:
    return sim().public_url or request.host_url.rstrip("/")


def created(data: Any, was_created: bool) -> tuple[Response, int]:
    return jsonify({"data": data}), 201 if was_created else 200


# -- products, locations, stock ---------------------------------------------------------


@bp.get("/products")
def list_products() -> Response:
    since = request.args.get("updated_since")
    rows = sim().list_products(
        g.store_id,
        updated_since=parse_iso(since) if since else None,
        ids=id_list("ids"),
        include_deleted=flag("include_deleted"),
    )
    page = paginate(rows)
    page["data"] = [sim().render_product(p, base_url()) for p in page["data"]]
    return jsonify(page)


@bp.get("/products/<int:product_id>")
def get_product(product_id: int) -> Response:
    return jsonify({"data": sim().get_product(g.store_id, product_id, base_url())})


@bp.get("/locations")
def list_locations() -> Response:
    return jsonify({"data": sim().describe_store(g.store_id)["locations"]})


@bp.get("/stock")
def list_stock() -> Response:
    rows = sim().stock_rows(
        g.store_id, request.args.get("location_id") or None, id_list("product_ids")
    )
    return jsonify(paginate(rows))


# -- customers -------------------------------------------------------------------------


@bp.get("/customers")
def list_customers() -> Response:
    return jsonify(paginate(sim().find_customers(g.store_id, request.args.get("email"))))


@bp.post("/customers")
def create_customer() -> tuple[Response, int]:
    return created(sim().create_customer(g.store_id, body()), True)


@bp.get("/customers/<int:customer_id>")
def get_customer(customer_id: int) -> Response:
    return jsonify({"data": sim().get_customer(g.store_id, customer_id)})


# -- orders ----------------------------------------------------------------------------


@bp.post("/orders")
def create_order() -> tuple[Response, int]:
    order, replayed = sim().create_order(g.store_id, body())
    resp, status = created(order, not replayed)
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp, status


@bp.get("/orders")
def list_orders() -> Response:
    return jsonify(paginate(sim().orders(g.store_id, request.args.get("external_reference"))))


@bp.get("/orders/<int:order_id>")
def get_order(order_id: int) -> Response:
    return jsonify({"data": sim().get_order(g.store_id, order_id)})


@bp.post("/orders/<int:order_id>/cancel")
def cancel_order(order_id: int) -> Response:
    data = request.get_json(silent=True) or {}
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    order = sim().cancel_order(g.store_id, order_id, restock=bool(data.get("restock", True)))
    return jsonify({"data": order})


@bp.post("/orders/<int:order_id>/refunds")
def create_refund(order_id: int) -> tuple[Response, int]:
    refund, replayed = sim().create_refund(g.store_id, order_id, body())
    resp, status = created(refund, not replayed)
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp, status


# -- webhook subscriptions -------------------------------------------------------------


@bp.get("/webhooks")
def list_webhooks() -> Response:
    return jsonify(paginate(sim().list_webhooks(g.store_id)))


@bp.post("/webhooks")
def create_webhook() -> tuple[Response, int]:
    data = body()
    hook, was_created = sim().subscribe(g.store_id, data.get("url"), data.get("events"))
    return created(hook, was_created)


@bp.delete("/webhooks/<int:hook_id>")
def delete_webhook(hook_id: int) -> tuple[str, int]:
    sim().unsubscribe(g.store_id, hook_id)
    return "", 204


# -- rate limiting ---------------------------------------------------------------------


class RateLimiter:
    """Fixed window per token; ``limit=None`` disables it."""

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def check(self, token: str) -> Response | None:
        if self.limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(token, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._windows[token] = (start, count)
        if count <= self.limit:
            return None
        resp = error_response(429, "rate_limited", "too many requests, slow down")
        resp.headers["Retry-After"] = str(max(1, math.ceil(start + self.window - now)))
        return resp
