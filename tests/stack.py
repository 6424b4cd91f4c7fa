"""Both simulators and the portal served over real HTTP on loopback, fresh state per test.

The servers start once per session; each test swaps in new simulator apps (werkzeug takes
half a second to shut a server down, so restarting per test would dominate the suite).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox.server import RunningServer, Swappable, serve_in_thread

BINDO_LOCATION = 10


@dataclass
class Servers:
    bc: RunningServer
    bindo: RunningServer
    portal: RunningServer
    bc_app: Swappable
    bindo_app: Swappable
    portal_app: Swappable


@dataclass
class Stack:
    """The simulators' states, their URLs, and a factory for linked merchants."""

    app: Any
    bc: Any  # sandbox.bigcommerce BCSimState
    bindo: Any  # sandbox.bindo SimState
    bc_url: str
    bindo_url: str
    portal_url: str
    merchants: list[Any] = field(default_factory=list)

    def linked_merchant(
        self,
        store_hash: str = "store1",
        *,
        weight_units: str = "LBS",
        active: bool = True,
        bindo_store_id: str | None = None,
        locations: list[dict[str, Any]] | None = None,
        multi_storefront: bool | None = None,
        **settings: Any,
    ):
        """A merchant installed in the BigCommerce simulator and linked to a Bindo store."""
        from portal.extensions import db
        from portal.models import Merchant, MerchantState, utcnow

        bc_store = self.bc.create_store(
            store_hash, weight_units=weight_units, multi_storefront=multi_storefront
        )
        bindo_id = bindo_store_id or f"bindo-{store_hash}"
        bindo_token, bindo_secret = secrets.token_hex(12), secrets.token_hex(16)
        self.bindo.create_store(
            bindo_id,
            bindo_token,
            bindo_secret,
            locations=locations or [{"id": BINDO_LOCATION, "name": "Main Street"}],
        )
        merchant = Merchant(
            store_hash=store_hash,
            store_name=f"Store {store_hash}",
            bc_store_id=str(bc_store.store_id),
            state=MerchantState.ACTIVE.value if active else MerchantState.INSTALLED.value,
            scopes=self.app.config["BIGCOMMERCE_SCOPES"],
            weight_unit=weight_units,
            bc_multi_storefront=bc_store.multi_storefront,  # read at install (GET /v2/store)
            owner_email="owner@example.com",
            installed_at=utcnow(),
            activated_at=utcnow() if active else None,
            bindo_store_id=bindo_id,
            bindo_location_ids=[loc["id"] for loc in (locations or [{"id": BINDO_LOCATION}])],
        )
        merchant.access_token = bc_store.access_token
        merchant.bindo_token = bindo_token
        merchant.bindo_webhook_secret = bindo_secret
        merchant.hook_secret = secrets.token_urlsafe(24)
        for key, value in settings.items():
            setattr(merchant, key, value)
        db.session.add(merchant)
        db.session.commit()
        self.merchants.append(merchant)
        return merchant


@pytest.fixture(scope="session")
def _servers() -> Iterator[Servers]:
    apps = Swappable(), Swappable(), Swappable()
    servers = [serve_in_thread(a) for a in apps]
    yield Servers(*servers, *apps)
    for server in servers:
        server.shutdown()


@pytest.fixture
def stack(app, _servers: Servers) -> Iterator[Stack]:
    """Fresh simulators wired to the test app (and the app served for webhook deliveries)."""
    from sandbox.bigcommerce import BCSimConfig
    from sandbox.bigcommerce import create_app as bc_create_app
    from sandbox.bindo import BindoSimConfig
    from sandbox.bindo import create_app as bindo_create_app

    bc_url, bindo_url, portal_url = _servers.bc.url, _servers.bindo.url, _servers.portal.url
    bc_app = bc_create_app(
        BCSimConfig(
            demo_mode=True,
            client_id=app.config["BIGCOMMERCE_CLIENT_ID"],
            client_secret=app.config["BIGCOMMERCE_CLIENT_SECRET"],
            app_url=portal_url,
            time_scale=0.001,
            rate_limit_quota=10_000,
            image_timeout=2.0,
        )
    )
    bindo_app = bindo_create_app(BindoSimConfig(public_url=bindo_url, time_scale=0.001))
    _servers.bc_app.app, _servers.bindo_app.app, _servers.portal_app.app = bc_app, bindo_app, app
    saved = {
        k: app.config[k]
        for k in ("BIGCOMMERCE_API_URL", "BIGCOMMERCE_LOGIN_URL", "BINDO_API_URL", "APP_URL")
    }
    app.config.update(
        BIGCOMMERCE_API_URL=bc_url,
        BIGCOMMERCE_LOGIN_URL=bc_url,
        BINDO_API_URL=bindo_url,
        APP_URL=portal_url,
    )
    from worker.runtime import set_app

    set_app(app)
    stack = Stack(
        app=app,
        bc=bc_app.extensions["bcsim"],
        bindo=bindo_app.extensions["bindosim"],
        bc_url=bc_url,
        bindo_url=bindo_url,
        portal_url=portal_url,
    )
    yield stack
    app.config.update(saved)
    _servers.portal_app.app = None
    for state in (stack.bc, stack.bindo):
        for closer in ("close", "shutdown"):
            if hasattr(state, closer):
                getattr(state, closer)()
                break
