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


# --- a Redis server of our own (T20, T21): never touch the shared one ----------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A ``redis-server`` subprocess on a free loopback port that a test may kill and restart.

    AOF with ``everysec`` as in production (RELIABILITY.md harness), data in a temp dir.
    """

    def __init__(self, workdir) -> None:
        self.port = free_port()
        self.dir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.log = None

    def start(self) -> OwnRedis:
        import subprocess

        from redis import Redis

        self.log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--maxmemory-policy", "noeviction",
                "--daemonize", "no",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        conn = Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                if conn.ping():
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.close()
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def client(self):
        from redis import Redis

        return Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)


@pytest.fixture
def own_redis(app, tmp_path):
    """The app (and the served portal) pointed at a private redis-server; workers started
    with ``worker_process(..., REDIS_URL=own_redis.url)`` use it too."""
    server = OwnRedis(tmp_path).start()
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    app.extensions.pop("redis", None)
    yield server
    app.config["REDIS_URL"] = saved
    app.extensions.pop("redis", None)
    server.stop(kill=True)


# --- deliveries over HTTP, signed as BigCommerce signs them ---------------------------------


def post_bc_event(
    session,
    portal_url: str,
    sender: tuple[str, str],
    scope: str,
    data: dict,
    *,
    msg_id: str | None = None,
    body: bytes | None = None,
):
    """POST one signed BigCommerce delivery to the served portal; (status, seconds, msg_id).

    ``sender`` is (store_hash, hook secret), read beforehand: threads have no app context.
    """
    import json

    from tests.webhooks.conftest import bc_delivery, bc_payload

    if body is None:
        payload = bc_payload(scope, sender[0], **data)
        body = json.dumps(payload, separators=(",", ":")).encode()
    body, headers = bc_delivery(body=body, msg_id=msg_id, hook_secret=sender[1])
    started = time.perf_counter()
    response = session.post(f"{portal_url}/webhooks/bigcommerce", data=body, headers=headers)
    return response.status_code, time.perf_counter() - started, headers["webhook-id"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
