"""In-memory state of the simulator: stores, tokens, OAuth codes and the Python control API."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from .config import BCSimConfig
from .errors import ApiError
from .traffic import FaultQueue, FaultRule, RateLimiter, RequestLog
from .webhooks import Dispatcher

WEIGHT_UNITS = ("LBS", "Ounces", "KGS", "Grams", "Tonnes")
DEFAULT_LOCATION_ID = 1


def iso_now() -> str:
    """ISO-8601 with offset, the v3 timestamp format (e.g. 2018-08-15T14:49:05+00:00)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def channel(channel_id: int, name: str) -> dict[str, Any]:
    """A storefront channel as GET /v3/channels lists it."""
    stamp = iso_now()
    return {
        "id": channel_id, "name": name, "type": "storefront", "platform": "bigcommerce",
        "status": "active", "is_listable_from_ui": True, "is_visible": True,
        "date_created": stamp, "date_modified": stamp, "external_id": "",
        "icon_url": "", "is_enabled": True,
    }  # fmt: skip


@dataclass
class Store:
    """One BigCommerce store with its catalog, orders and hooks."""

    store_hash: str
    store_id: int
    name: str
    weight_units: str
    owner_id: int
    owner_email: str
    access_token: str | None
    users: dict[int, str] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    images: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    trees: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    locations: dict[int, dict[str, Any]] = field(default_factory=dict)
    stock: dict[tuple[int, int], int] = field(default_factory=dict)
    # Variants (sandbox/bigcommerce/variants.py): options per product, variants by id and
    # their on-hand per (variant_id, location_id).
    options: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    variants: dict[int, dict[str, Any]] = field(default_factory=dict)
    variant_stock: dict[tuple[int, int], int] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    order_lines: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    order_addresses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Channel assignments of products created through the API (product id -> channel ids).
    # A product missing here was made in the control panel (or by a test writing the state),
    # which assigns it to the storefront it was made in: channel 1.
    channel_assignments: dict[int, set[int]] = field(default_factory=dict)
    # Multi-Storefront enabled (channels 1 and 2; API-created products are on no channel until
    # assigned). False: one storefront, and API-created products are on channel 1.
    multi_storefront: bool = True
    created_at: str = field(default_factory=iso_now)

    def sellable_on(self, product_id: int, channel_id: int) -> bool:
        return channel_id in self.channel_assignments.get(product_id, {1})

    def public(self) -> dict[str, Any]:
        return {
            "store_hash": self.store_hash,
            "store_id": self.store_id,
            "name": self.name,
            "weight_units": self.weight_units,
            "owner_id": self.owner_id,
            "owner_email": self.owner_email,
            "access_token": self.access_token,
            "context": f"stores/{self.store_hash}",
            "installed": self.access_token is not None,
        }


@dataclass
class AuthCode:
    store_hash: str
    scope: str
    user_id: int
    user_email: str
    expires_at: float


class BCSimState:
    """Everything the simulator knows; guard reads/writes with ``lock``."""

    def __init__(self, config: BCSimConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.stores: dict[str, Store] = {}
        self.codes: dict[str, AuthCode] = {}
        self.callback_log: list[dict[str, Any]] = []
        self.rate_limiter = RateLimiter(config.rate_limit_quota, config.rate_limit_window_ms)
        self.faults = FaultQueue()
        self.requests = RequestLog()
        self.dispatcher = Dispatcher(config, self._lookup_hook, self._deactivate_hook)
        self._ids = itertools.count(1)
        self._store_ids = itertools.count(1_000_001)

    def next_id(self) -> int:
        """Ids are unique across the whole simulator, which keeps cross-store mixups visible."""
        return next(self._ids)

    # -- stores -----------------------------------------------------------------------------

    def create_store(
        self,
        store_hash: str,
        name: str = "Sim Store",
        weight_units: str = "LBS",
        owner_email: str = "owner@example.com",
        access_token: str | None = None,
        multi_storefront: bool | None = None,
    ) -> Store:
        """Create an installed store with tree 1 for channel 1 and default location 1;
        ``multi_storefront`` defaults to the simulator's ``multi_storefront`` setting."""
        if weight_units not in WEIGHT_UNITS:
            raise ValueError(f"weight_units must be one of {WEIGHT_UNITS}")
        if not store_hash.isalnum() or store_hash.lower() != store_hash:
            raise ValueError("store_hash must be lower-case letters and digits")
        with self.lock:
            if store_hash in self.stores:
                raise ValueError(f"store {store_hash} exists")
            owner_id = self.next_id()
            store = Store(
                store_hash=store_hash,
                store_id=next(self._store_ids),
                name=name,
                weight_units=weight_units,
                owner_id=owner_id,
                owner_email=owner_email,
                access_token=access_token or secrets.token_hex(16),
                users={owner_id: owner_email},
                multi_storefront=(
                    self.config.multi_storefront if multi_storefront is None else multi_storefront
                ),
            )
            store.trees[1] = {"id": 1, "name": f"{name} tree", "channels": [1]}
            store.channels[1] = channel(1, f"{name} storefront")
            if store.multi_storefront:
                store.channels[2] = channel(2, f"{name} second storefront")
            store.locations[DEFAULT_LOCATION_ID] = default_location()
            self.stores[store_hash] = store
            return store

    def store(self, store_hash: str) -> Store:
        store = self.stores.get(store_hash)
        if store is None:
            raise ApiError(404, f"Store {store_hash} not found")
        return store

    def check_token(self, store_hash: str, token: str | None) -> None:
        store = self.store(store_hash)
        if not token or store.access_token is None:
            raise ApiError(401, "You are not authorized to access this resource")
        if not secrets.compare_digest(token, store.access_token):
            raise ApiError(401, "You are not authorized to access this resource")

    def revoke_token(self, store_hash: str) -> None:
        with self.lock:
            self.store(store_hash).access_token = None

    # -- OAuth ------------------------------------------------------------------------------

    def issue_code(self, store_hash: str, user_id: int | None = None) -> tuple[str, AuthCode]:
        with self.lock:
            store = self.store(store_hash)
            uid = user_id or store.owner_id
            code = secrets.token_urlsafe(12)
            grant = AuthCode(
                store_hash=store_hash,
                scope=self.config.install_scope_override or self.config.granted_scopes(),
                user_id=uid,
                user_email=store.users.get(uid, store.owner_email),
                expires_at=time.monotonic() + self.config.code_ttl_seconds,
            )
            self.codes[code] = grant
            return code, grant

    def install_url(self, store_hash: str) -> str:
        """The browser redirect BigCommerce sends to the app's auth callback."""
        code, grant = self.issue_code(store_hash)
        query = urlencode(
            {
                "code": code,
                "scope": grant.scope,
                "context": f"stores/{store_hash}",
                "account_uuid": self.config.account_uuid,
            }
        )
        return f"{self.config.app_url}/bigcommerce/auth?{query}"

    def redeem_code(self, code: str, context: str) -> dict[str, Any]:
        """Single-use exchange; raises ValueError with an OAuth error code."""
        with self.lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant.expires_at < time.monotonic():
                raise ValueError("invalid_grant")
            if context != f"stores/{grant.store_hash}":
                raise ValueError("invalid_grant")
            store = self.store(grant.store_hash)
            store.access_token = secrets.token_hex(16)
            return {
                "access_token": store.access_token,
                "scope": grant.scope,
                "user": {
                    "id": grant.user_id,
                    "username": grant.user_email,
                    "email": grant.user_email,
                },
                "owner": {
                    "id": store.owner_id,
                    "username": store.owner_email,
                    "email": store.owner_email,
                },
                "context": self.config.token_context_override or context,
                "account_uuid": self.config.account_uuid,
            }

    # -- signed_payload_jwt -----------------------------------------------------------------

    def make_jwt(
        self,
        store_hash: str,
        *,
        secret: str | None = None,
        algorithm: str = "HS256",
        **overrides: Any,
    ) -> str:
        """A callback JWT as BigCommerce signs it; ``overrides`` replace claims (tests)."""
        store = self.store(store_hash)
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.config.client_id,
            "iss": "bc",
            "iat": now,
            "nbf": now,
            "exp": now + 86400,
            "jti": str(uuid.uuid4()),
            "sub": f"stores/{store_hash}",
            "user": {"id": store.owner_id, "email": store.owner_email, "locale": "en-US"},
            "owner": {"id": store.owner_id, "email": store.owner_email},
            "url": "/",
            "channel_id": None,
        }
        claims.update(overrides)
        return jwt.encode(claims, secret or self.config.client_secret, algorithm=algorithm)

    def user_claim(self, store: Store, user_id: int | None, email: str | None) -> dict[str, Any]:
        """Register the acting user (Multiple Users) and return its JWT ``user`` claim."""
        uid = user_id or store.owner_id
        with self.lock:
            mail = email or store.users.get(uid) or f"user{uid}@example.com"
            store.users[uid] = mail
        return {"id": uid, "email": mail, "locale": "en-US"}

    def load_url(self, store_hash: str, user_id: int | None, user_email: str | None) -> str:
        store = self.store(store_hash)
        token = self.make_jwt(store_hash, user=self.user_claim(store, user_id, user_email))
        return f"{self.config.app_url}/bigcommerce/load?{urlencode({'signed_payload_jwt': token})}"

    def call_app(self, callback: str, token: str) -> dict[str, Any]:
        """Server-side GET of one of the app's callbacks; failures are recorded, not raised."""
        url = f"{self.config.app_url}/bigcommerce/{callback}"
        try:
            resp = requests.get(
                url,
                params={"signed_payload_jwt": token},
                timeout=self.config.callback_timeout,
                allow_redirects=False,
            )
            result: dict[str, Any] = {"callback": callback, "status": resp.status_code}
        except requests.RequestException as exc:
            result = {"callback": callback, "status": None, "error": str(exc)}
        self.callback_log.append(result)
        return result

    def uninstall(self, store_hash: str) -> dict[str, Any]:
        """App uninstall: tell the app, deliver store/app/uninstalled, drop hooks and token."""
        store = self.store(store_hash)
        result = self.call_app("uninstall", self.make_jwt(store_hash))
        with self.lock:
            self.emit(store, "store/app/uninstalled", {"type": "store"})
            deleted = len(store.hooks)
            store.hooks.clear()
            store.access_token = None
        return {**result, "hooks_deleted": deleted}

    def remove_user(self, store_hash: str, user_id: int) -> dict[str, Any]:
        store = self.store(store_hash)
        claim = self.user_claim(store, user_id, None)
        result = self.call_app("remove_user", self.make_jwt(store_hash, user=claim))
        with self.lock:
            store.users.pop(user_id, None)
        return result

    # -- webhooks ---------------------------------------------------------------------------

    def emit(self, store: Store, scope: str, data: dict[str, Any]) -> str:
        """Fire an event to the store's matching hooks (delivered in the background)."""
        hooks = [dict(h) for h in store.hooks.values()]
        return self.dispatcher.fire(store.store_hash, store.store_id, scope, data, hooks)

    def wait_deliveries(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook attempt (incl. scheduled retries) has run."""
        return self.dispatcher.wait(timeout)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.dispatcher.log)

    def set_webhook_faults(
        self, drop_ratio: float = 0.0, duplicates: int = 0, seed: int | None = None
    ) -> None:
        if not 0.0 <= drop_ratio <= 1.0 or duplicates < 0:
            raise ValueError("drop_ratio must be within 0..1 and duplicates >= 0")
        self.dispatcher.set_faults(drop_ratio, duplicates, seed)

    def _lookup_hook(self, store_hash: str, hook_id: int) -> dict[str, Any] | None:
        with self.lock:
            store = self.stores.get(store_hash)
            return dict(store.hooks[hook_id]) if store and hook_id in store.hooks else None

    def _deactivate_hook(self, store_hash: str, hook_id: int) -> None:
        with self.lock:
            store = self.stores.get(store_hash)
            if store and hook_id in store.hooks:
                store.hooks[hook_id]["is_active"] = False
                store.hooks[hook_id]["updated_at"] = int(time.time())

    # -- traffic ----------------------------------------------------------------------------

    def add_fault(self, mode: str, count: int = 1, **kwargs: Any) -> None:
        self.faults.add(FaultRule(mode=mode, count=count, **kwargs))

    def request_summary(self, store_hash: str | None = None) -> dict[str, Any]:
        return self.requests.summary(store_hash)

    def reset_requests(self) -> None:
        self.requests.reset()

    def close(self) -> None:
        self.dispatcher.stop()


def default_location() -> dict[str, Any]:
    """Location 1: the default location / shipping origin every store has."""
    stamp = iso_now()
    return {
        "id": DEFAULT_LOCATION_ID,
        "code": "BC-LOCATION-1",
        "label": "Default location",
        "description": "Store's default location",
        "managed_by_external_source": False,
        "type_id": "PHYSICAL",
        "enabled": True,
        "storefront_visibility": True,
        "time_zone": "Etc/UTC",
        "created_at": stamp,
        "updated_at": stamp,
        "special_hours": [],
    }
