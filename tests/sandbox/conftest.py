"""Fixtures for the simulator tests; BigCommerce ones are prefixed ``bc_``."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, Response, request

from sandbox.bigcommerce import BCSimConfig, BCSimState, create_app
from sandbox.server import serve_in_thread

# A valid 1x1 PNG.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class ImageServer:
    url: str

    @property
    def png(self) -> str:
        return f"{self.url}/tiny.png"

    @property
    def text(self) -> str:
        return f"{self.url}/not-an-image.png"

    @property
    def missing(self) -> str:
        return f"{self.url}/missing.png"


@pytest.fixture(scope="session")
def tiny_png_server() -> Iterator[ImageServer]:
    """Serves /tiny.png (a PNG), /not-an-image.png (text) and 404 for anything else."""
    app = Flask("tiny_png")

    @app.get("/tiny.png")
    def png() -> Response:
        return Response(TINY_PNG, mimetype="image/png")

    @app.get("/not-an-image.png")
    def text() -> Response:
        return Response("hello", mimetype="image/png")

    server = serve_in_thread(app)
    yield ImageServer(server.url)
    server.shutdown()


@dataclass
class FakePortal:
    """Our app's side: records callback GETs and webhook POSTs; answers scripted statuses."""

    url: str = ""
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/webhooks/bigcommerce"

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


def _portal_app(portal: FakePortal) -> Flask:
    app = Flask("fake_portal")

    @app.get("/bigcommerce/<callback>")
    def callback(callback: str) -> Response:
        portal.callbacks.append({"callback": callback, "args": request.args.to_dict()})
        return Response("{}", mimetype="application/json")

    @app.post("/webhooks/bigcommerce")
    def webhook() -> Response:
        status = portal.next_status()
        with portal.lock:
            portal.webhooks.append(
                {"headers": dict(request.headers), "body": request.get_data(), "status": status}
            )
        return Response("", status=status)

    return app


class SwitchableApp:
    """A WSGI app whose target is swapped per test, so servers live for the whole session
    (werkzeug's shutdown polls every 0.5 s; restarting servers per test would dominate)."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.target(environ, start_response)


@pytest.fixture(scope="session")
def _bc_servers() -> Iterator[tuple[SwitchableApp, str, SwitchableApp, str]]:
    sim_app, portal_app = SwitchableApp(), SwitchableApp()
    sim_server, portal_server = serve_in_thread(sim_app), serve_in_thread(portal_app)
    yield sim_app, sim_server.url, portal_app, portal_server.url
    sim_server.shutdown()
    portal_server.shutdown()


@pytest.fixture
def bc_portal(_bc_servers) -> FakePortal:
    _, _, portal_app, portal_url = _bc_servers
    portal = FakePortal(url=portal_url)
    portal_app.target = _portal_app(portal)
    return portal


@dataclass
class BCSim:
    url: str
    state: BCSimState
    config: BCSimConfig


@pytest.fixture
def bc_config(bc_portal: FakePortal) -> BCSimConfig:
    """Compressed time: webhook retries in ms, short timeouts; tests may tweak before bc_sim."""
    return BCSimConfig(
        demo_mode=True,
        client_id="test-client",
        client_secret="test-secret-of-at-least-32-bytes-long",
        app_url=bc_portal.url,
        time_scale=0.0001,
        webhook_timeout=2.0,
        image_timeout=2.0,
        callback_timeout=2.0,
        fault_timeout_delay=0.3,
    )


@pytest.fixture
def bc_sim(bc_config: BCSimConfig, _bc_servers) -> Iterator[BCSim]:
    sim_app, sim_url, _, _ = _bc_servers
    app = create_app(bc_config)
    sim_app.target = app
    state: BCSimState = app.extensions["bcsim"]
    yield BCSim(sim_url, state, bc_config)
    state.close()


@dataclass
class BCStore:
    """A created store plus a requests session that speaks to its API."""

    store_hash: str
    token: str
    base: str
    http: requests.Session

    def url(self, path: str) -> str:
        return f"{self.base}/stores/{self.store_hash}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url(path), timeout=10, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url(path), json=json, timeout=10, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.put(self.url(path), json=json, timeout=10, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.delete(self.url(path), timeout=10, **kwargs)


@pytest.fixture
def bc_store(bc_sim: BCSim) -> Iterator[BCStore]:
    created = requests.post(
        f"{bc_sim.url}/_sim/stores",
        json={"store_hash": "abc123", "name": "Test Store", "weight_units": "KGS"},
        timeout=5,
    ).json()
    http = requests.Session()
    http.headers.update({"X-Auth-Token": created["access_token"], "Accept": "application/json"})
    yield BCStore("abc123", created["access_token"], bc_sim.url, http)
    http.close()


def product_body(**overrides: Any) -> dict[str, Any]:
    body = {"name": "Blue Mug", "type": "physical", "weight": 1.5, "price": 9.99, "sku": "MUG-1"}
    body.update(overrides)
    return body
