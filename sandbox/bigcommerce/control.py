"""Login service (/oauth2/token) and the JSON control API under /_sim (never rate limited)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request

from . import catalog, orders
from .errors import ApiError
from .state import BCSimState

bp = Blueprint("bc_control", __name__)
TOKEN_FIELDS = (
    "client_id", "client_secret", "code", "context", "scope", "grant_type", "redirect_uri",
)  # fmt: skip


def sim() -> BCSimState:
    return current_app.extensions["bcsim"]


def payload() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    response = jsonify(error.v3_body())
    response.status_code = error.status
    return response


@bp.errorhandler(ValueError)
def _bad_value(error: ValueError) -> Response:
    response = jsonify({"error": str(error)})
    response.status_code = 400
    return response


# -- OAuth -----------------------------------------------------------------------------------


def _oauth_error(status: int, code: str, description: str) -> Response:
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


@bp.post("/oauth2/token")
def token() -> Response:
    """Authorization-code exchange; accepts JSON and form bodies (the Python client uses forms)."""
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    data = data if isinstance(data, dict) else {}
    missing = [name for name in TOKEN_FIELDS if not data.get(name)]
    if missing:
        return _oauth_error(400, "invalid_request", f"missing fields: {', '.join(missing)}")
    config = sim().config
    client_ok = hmac.compare_digest(str(data["client_id"]), config.client_id)
    secret_ok = hmac.compare_digest(str(data["client_secret"]), config.client_secret)
    if not (client_ok and secret_ok):
        return _oauth_error(401, "invalid_client", "client authentication failed")
    if data["grant_type"] != "authorization_code":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code")
    if data["redirect_uri"] != f"{config.app_url}/bigcommerce/auth":
        return _oauth_error(400, "invalid_grant", "redirect_uri does not match the app profile")
    try:
        answer = sim().redeem_code(str(data["code"]), str(data["context"]))
    except ValueError:
        return _oauth_error(400, "invalid_grant", "code is invalid, expired or already used")
    return jsonify(answer)


# -- stores and app callbacks ----------------------------------------------------------------


@bp.get("/_sim/stores")
def list_stores() -> Response:
    with sim().lock:
        return jsonify([s.public() for s in sim().stores.values()])


@bp.post("/_sim/stores")
def create_store() -> Response:
    data = payload()
    store = sim().create_store(
        store_hash=str(data.get("store_hash", "")),
        name=data.get("name", "Sim Store"),
        weight_units=data.get("weight_units", "LBS"),
        owner_email=data.get("owner_email", "owner@example.com"),
        access_token=data.get("access_token"),
        multi_storefront=data.get("multi_storefront"),
    )
    response = jsonify(store.public())
    response.status_code = 201
    return response


@bp.get("/_sim/stores/<store_hash>/install")
def install(store_hash: str) -> Response:
    return redirect(sim().install_url(store_hash), code=302)


@bp.get("/_sim/stores/<store_hash>/load")
def load(store_hash: str) -> Response:
    user_id = request.args.get("user_id", type=int)
    url = sim().load_url(store_hash, user_id, request.args.get("user_email"))
    return redirect(url, code=302)


@bp.post("/_sim/stores/<store_hash>/uninstall")
def uninstall(store_hash: str) -> Response:
    return jsonify(sim().uninstall(store_hash))


@bp.post("/_sim/stores/<store_hash>/remove_user")
def remove_user(store_hash: str) -> Response:
    user_id = payload().get("user_id")
    if not isinstance(user_id, int):
        raise ValueError("user_id (integer) is required")
    return jsonify(sim().remove_user(store_hash, user_id))


@bp.post("/_sim/stores/<store_hash>/revoke_token")
def revoke_token(store_hash: str) -> Response:
    sim().revoke_token(store_hash)
    return jsonify({"revoked": True})


@bp.get("/_sim/stores/<store_hash>/jwt")
def mint_jwt(store_hash: str) -> Response:
    return jsonify({"signed_payload_jwt": sim().make_jwt(store_hash)})


# -- merchant / shopper actions --------------------------------------------------------------


@bp.put("/_sim/stores/<store_hash>/products/<int:product_id>")
def merchant_edit(store_hash: str, product_id: int) -> Response:
    """A merchant editing a product in the control panel (fires store/product/updated)."""
    data = payload()
    errors = catalog.validate_product(data, creating=False)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    state = sim()
    with state.lock:
        product = catalog.update_product(state, state.store(store_hash), product_id, data)
        return jsonify(product)


@bp.post("/_sim/stores/<store_hash>/checkout")
def checkout(store_hash: str) -> Response:
    """A shopper checkout: builds a realistic order body and creates the order."""
    state = sim()
    with state.lock:
        store = state.store(store_hash)
        try:
            body = orders.checkout_body(store, payload())
            orders.check_sellable(store, body)
            order = orders.create_order(state, store, body)
        except ApiError as error:
            response = jsonify(error.v2_body())
            response.status_code = error.status
            return response
        response = jsonify(orders.public(order))
    response.status_code = 201
    return response


@bp.post("/_sim/stores/<store_hash>/orders/<int:order_id>/refund")
def refund(store_hash: str, order_id: int) -> Response:
    items = payload().get("items")
    if not isinstance(items, list) or not items:
        raise ValueError("items (non-empty array) is required")
    state = sim()
    with state.lock:
        return jsonify(orders.refund(state, state.store(store_hash), order_id, items))


# -- faults, webhooks, request log -----------------------------------------------------------


@bp.post("/_sim/faults")
def add_fault() -> Response:
    data = payload()
    sim().add_fault(
        mode=str(data.get("mode", "")),
        count=int(data.get("count", 1)),
        store_hash=data.get("store_hash"),
        path_prefix=data.get("path_prefix"),
        delay=data.get("delay"),
    )
    return jsonify({"faults": sim().faults.list()})


@bp.get("/_sim/faults")
def list_faults() -> Response:
    return jsonify({"faults": sim().faults.list()})


@bp.delete("/_sim/faults")
def clear_faults() -> Response:
    sim().faults.clear()
    return jsonify({"faults": []})


@bp.post("/_sim/webhooks/faults")
def webhook_faults() -> Response:
    data = payload()
    sim().set_webhook_faults(
        drop_ratio=float(data.get("drop_ratio", 0.0)),
        duplicates=int(data.get("duplicates", 0)),
        seed=data.get("seed"),
    )
    return jsonify(
        {"drop_ratio": data.get("drop_ratio", 0.0), "duplicates": data.get("duplicates", 0)}
    )


@bp.get("/_sim/webhooks/deliveries")
def deliveries() -> Response:
    return jsonify({"pending": sim().dispatcher.pending, "deliveries": sim().deliveries})


@bp.post("/_sim/webhooks/wait")
def wait_deliveries() -> Response:
    timeout = float(payload().get("timeout", 5.0))
    return jsonify({"idle": sim().wait_deliveries(timeout)})


@bp.get("/_sim/requests")
def request_summary() -> Response:
    return jsonify(sim().request_summary(request.args.get("store_hash")))


@bp.post("/_sim/requests/reset")
def reset_requests() -> Response:
    sim().reset_requests()
    sim().rate_limiter.reset()
    return jsonify({"reset": True})
