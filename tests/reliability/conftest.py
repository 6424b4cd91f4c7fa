"""Helpers for the reliability and security scenarios (RELIABILITY.md T10, T15-T21, T33-T39).

Sizes: every long scenario runs a small size by default and its full size with
FULL_SCENARIOS=1 (see docs/reliability.md for both).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

import jwt
import pytest

from portal.extensions import db
from portal.models import Merchant, MerchantState

FULL = os.environ.get("FULL_SCENARIOS") == "1"
CLIENT_ID = "test-client-id"  # tests/conftest.py base_config
CLIENT_SECRET = "test-client-secret-of-32-bytes-min"


def size(default: int, full: int) -> int:
    return full if FULL else default


def callback_jwt(
    store_hash: str,
    *,
    user_id: int = 1,
    email: str = "owner@example.com",
    secret: str = CLIENT_SECRET,
    **overrides: Any,
) -> str:
    """A signed_payload_jwt as BigCommerce signs it."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": CLIENT_ID,
        "iss": "bc",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": str(uuid.uuid4()),
        "sub": f"stores/{store_hash}",
        "user": {"id": user_id, "email": email},
        "owner": {"id": 1, "email": "owner@example.com"},
    }
    claims.update(overrides)
    return jwt.encode(claims, secret, algorithm="HS256")


def installed(store_hash: str, state: str = MerchantState.ACTIVE.value, **fields: Any) -> Merchant:
    """An installed merchant with a token and both webhook secrets."""
    from tests.webhooks.conftest import BINDO_SECRET, HOOK_SECRET

    merchant = Merchant(
        store_hash=store_hash,
        state=state,
        bindo_store_id=f"b-{store_hash}",
        store_name=f"Store {store_hash}",
        **fields,
    )
    merchant.access_token = f"bc-token-{store_hash}"
    merchant.hook_secret = HOOK_SECRET
    merchant.bindo_webhook_secret = BINDO_SECRET
    db.session.add(merchant)
    db.session.commit()
    return merchant


def open_app(client, store_hash: str, user_id: int = 1):
    """Load the app as BigCommerce's control panel does; the client then holds bc_app_session."""
    response = client.get(
        "/bigcommerce/load",
        query_string={"signed_payload_jwt": callback_jwt(store_hash, user_id=user_id)},
    )
    assert response.status_code == 303, response.status_code
    return response


class ErrorLogWatch(logging.Handler):
    """Collects ERROR records (the app's ``unhandled error`` included) during a test."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log():
    watch = ErrorLogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    yield watch
    root.removeHandler(watch)
