"""Fixtures for the app lifecycle: the BigCommerce and Bindo simulators over real HTTP, our
portal served on a loopback port (the simulator calls /bigcommerce/uninstall server-side), and
helpers to install, load and sign callback JWTs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import jwt
import pytest
import requests

from sandbox.bigcommerce import BCSimConfig, BCSimState
from sandbox.bigcommerce import create_app as create_bc_sim
from sandbox.bindo import create_app as create_bindo_sim
from sandbox.server import serve_in_thread

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "lifecycle-client-secret-of-at-least-32-bytes"
STORE = "abc123"
OTHER_STORE = "zzz999"
BINDO_STORE = "bindo-store-1"
BINDO_TOKEN = "bindo-api-token-xyz"
BINDO_SECRET = "bindo-webhook-secret-xyz"
BINDO_LOCATION = 11


class SwitchableApp:
    """A WSGI app whose target changes per test, so servers live for the whole session."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.target(environ, start_response)


@pytest.fixture(scope="session")
def _servers(_app) -> Iterator[dict[str, Any]]:
    bc_app, bindo_app = SwitchableApp(), SwitchableApp()
    servers = {
        "bc": serve_in_thread(bc_app),
        "bindo": serve_in_thread(bindo_app),
        "portal": serve_in_thread(_app),
    }
    yield {"bc_app": bc_app, "bindo_app": bindo_app, **servers}
    for server in ("bc", "bindo", "portal"):
        servers[server].shutdown()


@dataclass
class Sim:
    url: str
    state: BCSimState
    config: BCSimConfig
    portal_url: str

    def install_path(self, store_hash: str = STORE) -> str:
        """Follow the simulator's install redirect; return our /bigcommerce/auth path+query."""
        resp = requests.get(
            f"{self.url}/_sim/stores/{store_hash}/install", allow_redirects=False, timeout=5
        )
        location = urlparse(resp.headers["Location"])
        return f"{location.path}?{location.query}"

    def load_path(self, store_hash: str = STORE, user_id: int | None = None) -> str:
        location = urlparse(self.state.load_url(store_hash, user_id, None))
        return f"{location.path}?{location.query}"

    def create_store(self, store_hash: str, **fields: Any) -> dict[str, Any]:
        body = {"store_hash": store_hash, "name": f"Store {store_hash}", **fields}
        return requests.post(f"{self.url}/_sim/stores", json=body, timeout=5).json()


@pytest.fixture
def sim_config(_servers) -> BCSimConfig:
    """Tests may tweak the config (negative switches) before asking for ``sim``."""
    return BCSimConfig(
        demo_mode=True,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        app_url=_servers["portal"].url,
        time_scale=0.0001,
        webhook_timeout=2.0,
        callback_timeout=5.0,
    )


@pytest.fixture
def sim(app, _servers, sim_config, monkeypatch) -> Iterator[Sim]:
    """A fresh BigCommerce simulator with store abc123, and the app pointed at it."""
    sim_app = create_bc_sim(sim_config)
    _servers["bc_app"].target = sim_app
    url = _servers["bc"].url
    for key, value in {
        "BIGCOMMERCE_LOGIN_URL": url,
        "BIGCOMMERCE_API_URL": url,
        "BIGCOMMERCE_CLIENT_ID": CLIENT_ID,
        "BIGCOMMERCE_CLIENT_SECRET": CLIENT_SECRET,
        "BIGCOMMERCE_SCOPES": sim_config.scopes,
        "APP_URL": _servers["portal"].url,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    state: BCSimState = sim_app.extensions["bcsim"]
    handle = Sim(url, state, sim_config, _servers["portal"].url)
    handle.create_store(STORE, weight_units="KGS")
    yield handle
    state.close()


@pytest.fixture
def bindo(app, _servers, monkeypatch) -> str:
    """A Bindo simulator with one store and location 11; returns its URL."""
    _servers["bindo_app"].target = create_bindo_sim()
    url = _servers["bindo"].url
    monkeypatch.setitem(app.config, "BINDO_API_URL", url)
    requests.post(
        f"{url}/_sim/stores",
        json={
            "store_id": BINDO_STORE,
            "token": BINDO_TOKEN,
            "webhook_secret": BINDO_SECRET,
            "locations": [{"id": BINDO_LOCATION, "name": "Main"}],
        },
        timeout=5,
    ).raise_for_status()
    return url


def claims(store_hash: str = STORE, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "aud": CLIENT_ID,
        "iss": "bc",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": str(uuid.uuid4()),
        "sub": f"stores/{store_hash}",
        "user": {"id": 1, "email": "owner@example.com", "locale": "en-US"},
        "owner": {"id": 1, "email": "owner@example.com"},
        "url": "/",
        "channel_id": None,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def sign(body: dict[str, Any], key: str = CLIENT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(body, key, algorithm=algorithm)


def make_merchant(store_hash: str = STORE, state: str = "installed", **fields: Any):
    """A merchant row as an install leaves it (token set), without any HTTP."""
    from portal.extensions import db
    from portal.models import Merchant, MerchantUser, utcnow

    merchant = Merchant(store_hash=store_hash, state=state, installed_at=utcnow(), **fields)
    merchant.access_token = f"token-{store_hash}"
    db.session.add(merchant)
    db.session.flush()
    db.session.add(MerchantUser(merchant_id=merchant.id, bc_user_id=1, is_owner=True))
    db.session.commit()
    return merchant


def link_bindo(merchant) -> None:
    from portal.extensions import db

    merchant.bindo_store_id = BINDO_STORE
    merchant.bindo_token = BINDO_TOKEN
    merchant.bindo_webhook_secret = BINDO_SECRET
    merchant.bindo_location_ids = [BINDO_LOCATION]
    db.session.commit()


def open_app(client, store_hash: str = STORE, user_id: int = 1) -> None:
    """Start an app session for ``store_hash`` through /bigcommerce/load."""
    token = sign(claims(store_hash, user={"id": user_id, "email": f"u{user_id}@example.com"}))
    response = client.get(f"/bigcommerce/load?signed_payload_jwt={token}")
    assert response.status_code == 303, response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _app_credentials(app, monkeypatch) -> None:
    """Every lifecycle test signs callbacks with this module's client id and secret."""
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_SECRET", CLIENT_SECRET)
