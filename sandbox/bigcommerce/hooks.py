"""Webhook subscriptions (/v3/hooks) for one store (call with ``state.lock`` held)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError
from .state import BCSimState, Store

MAX_PER_SCOPE = 10


def destination_error(destination: str, demo_mode: bool) -> str | None:
    """BigCommerce delivers only to https on port 443; demo mode also takes loopback http."""
    try:
        parts = urlsplit(destination)
        port = parts.port
    except ValueError:
        return "must be a URL"
    if demo_mode:
        return None if parts.scheme in ("http", "https") and parts.hostname else "must be a URL"
    if parts.scheme != "https" or not parts.hostname or port not in (None, 443):
        return "must be an https URL on port 443"
    return None


def _validate(body: Any, creating: bool, demo_mode: bool) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors: dict[str, str] = {}
    for name in ("scope", "destination"):
        if creating and not body.get(name):
            errors[name] = "error.path.missing"
        elif name in body and not isinstance(body[name], str):
            errors[name] = "must be a string"
    destination = body.get("destination")
    if isinstance(destination, str):
        problem = destination_error(destination, demo_mode)
        if problem:
            errors["destination"] = problem
    if "is_active" in body and not isinstance(body["is_active"], bool):
        errors["is_active"] = "must be a boolean"
    headers = body.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
    ):
        errors["headers"] = "must be an object of strings"
    if not creating and not {"scope", "destination", "is_active", "headers"} & set(body):
        errors["body"] = "at least one of scope, destination, is_active, headers is required"
    return errors


def _check_limits(store: Store, scope: str, destination: str, own_id: int | None) -> None:
    """One hook per scope+destination, ten per scope (status code UNCONFIRMED: 422 here)."""
    same_scope = [h for h in store.hooks.values() if h["scope"] == scope and h["id"] != own_id]
    if any(h["destination"] == destination for h in same_scope):
        raise ApiError(422, "Hook already exists", {"destination": "duplicate scope+destination"})
    if len(same_scope) >= MAX_PER_SCOPE:
        raise ApiError(422, "Too many hooks", {"scope": f"at most {MAX_PER_SCOPE} per scope"})


def create_hook(state: BCSimState, store: Store, body: Any) -> dict[str, Any]:
    errors = _validate(body, creating=True, demo_mode=state.config.demo_mode)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    _check_limits(store, body["scope"], body["destination"], None)
    now = int(time.time())
    hook = {
        "id": state.next_id(),
        "client_id": state.config.client_id,
        "store_hash": store.store_hash,
        "scope": body["scope"],
        "destination": body["destination"],
        "is_active": body.get("is_active", True),
        "headers": body.get("headers"),
        "created_at": now,
        "updated_at": now,
    }
    store.hooks[hook["id"]] = hook
    return hook


def get_hook(store: Store, hook_id: int) -> dict[str, Any]:
    hook = store.hooks.get(hook_id)
    if hook is None:
        raise ApiError(404, f"Webhook with id [{hook_id}] not found")
    return hook


def update_hook(state: BCSimState, store: Store, hook_id: int, body: Any) -> dict[str, Any]:
    hook = get_hook(store, hook_id)
    errors = _validate(body, creating=False, demo_mode=state.config.demo_mode)
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    scope = body.get("scope", hook["scope"])
    destination = body.get("destination", hook["destination"])
    _check_limits(store, scope, destination, hook_id)
    for name in ("scope", "destination", "is_active", "headers"):
        if name in body:
            hook[name] = body[name]
    hook["updated_at"] = int(time.time())
    return hook


def delete_hook(store: Store, hook_id: int) -> dict[str, Any]:
    hook = get_hook(store, hook_id)
    del store.hooks[hook_id]
    return hook


def list_hooks(store: Store, args: dict[str, str]) -> list[dict[str, Any]]:
    hooks = sorted(store.hooks.values(), key=lambda h: h["id"])
    if "is_active" in args:
        wanted = args["is_active"].lower() == "true"
        hooks = [h for h in hooks if h["is_active"] == wanted]
    for name in ("scope", "destination"):
        if name in args:
            hooks = [h for h in hooks if h[name] == args[name]]
    return hooks
