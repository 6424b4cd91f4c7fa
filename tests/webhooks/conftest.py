"""Fixtures for the webhook tests: merchants, and deliveries signed as the senders sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest

from portal.extensions import db
from portal.models import Merchant, MerchantState

CLIENT_SECRET = "test-client-secret-of-32-bytes-min"  # tests/conftest.py base_config
HOOK_SECRET = "hook-secret-0123456789abcdef"
BINDO_SECRET = "bindo-secret-0123456789"
STORE_HASH = "abc123"
BINDO_STORE = "store-1"


def make_merchant(
    store_hash: str = STORE_HASH,
    state: str = MerchantState.ACTIVE.value,
    *,
    hook_secret: str | None = HOOK_SECRET,
    bindo_secret: str | None = BINDO_SECRET,
    bindo_store_id: str = BINDO_STORE,
) -> Merchant:
    merchant = Merchant(store_hash=store_hash, state=state, bindo_store_id=bindo_store_id)
    merchant.access_token = "bc-token"
    merchant.hook_secret = hook_secret
    merchant.bindo_webhook_secret = bindo_secret
    db.session.add(merchant)
    db.session.commit()
    return merchant


@pytest.fixture
def merchant(app) -> Merchant:
    return make_merchant()


def bc_payload(scope: str = "store/order/created", store_hash: str = STORE_HASH, **data) -> dict:
    data = data or {"type": "order", "id": 250}
    return {
        "scope": scope,
        "store_id": "1025646",
        "data": data,
        "hash": hashlib.sha1(json.dumps(data).encode()).hexdigest(),
        "created_at": int(time.time()),
        "producer": f"stores/{store_hash}",
    }


def standard_signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(digest.digest()).decode()


def bc_delivery(
    payload: dict[str, Any] | None = None,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    secret: str = CLIENT_SECRET,
    hook_secret: str = HOOK_SECRET,
    body: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A body and headers exactly as BigCommerce would send them."""
    if body is None:
        body = json.dumps(payload or bc_payload(), separators=(",", ":")).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, msg_id, timestamp, body),
        "X-Bindo-Hook-Secret": hook_secret,
    }
    return body, headers


def bindo_event(event_type: str = "inventory.updated", store_id: str = BINDO_STORE, **kw) -> dict:
    return {
        "id": kw.pop("id", f"evt_{uuid.uuid4()}"),
        "type": event_type,
        "store_id": store_id,
        "created_at": "2026-11-26T21:00:00Z",
        "data": kw or {"product_id": 101, "location_id": 10, "quantity": "4.0"},
    }


def bindo_signature(secret: str, body: bytes, t: int) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, "sha256").hexdigest()
    return f"t={t},v1={digest}"


def bindo_delivery(
    event: dict[str, Any] | None = None,
    *,
    secret: str = BINDO_SECRET,
    t: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    event = event or bindo_event()
    body = json.dumps(event, separators=(",", ":")).encode()
    t = int(time.time()) if t is None else t
    headers = {
        "Content-Type": "application/json",
        "Bindo-Event-Id": event["id"],
        "Bindo-Event": event["type"],
        "Bindo-Signature": bindo_signature(secret, body, t),
    }
    return body, headers
