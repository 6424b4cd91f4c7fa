"""Fixtures for the staff admin tests: role-signed-in clients and a small seeded world."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import (
    Alert,
    AuditLog,
    ImportedOrder,
    InstallNotification,
    Merchant,
    ProductBinding,
    SyncRun,
    SyncState,
    utcnow,
)
from tests.conftest import login, make_staff


@pytest.fixture
def as_role(app, client) -> Callable[[str], object]:
    """``as_role("viewer")`` -> a fresh test client signed in with that role.

    Depends on ``client`` so every client is an IsolatedClient (a fresh ``g`` per request).
    """

    def make(role: str):
        email = f"{role}@bindo.test"
        from portal.models import StaffUser

        if db.session.query(StaffUser).filter_by(email=email).first() is None:
            make_staff(email=email, role=role)
        client = app.test_client()
        assert login(client, email=email).status_code == 302
        return client

    return make


def add_merchant(store_hash: str = "store1", **fields) -> Merchant:
    fields.setdefault("store_name", f"Store {store_hash}")
    fields.setdefault("state", "active")
    merchant = Merchant(store_hash=store_hash, **fields)
    db.session.add(merchant)
    db.session.commit()
    return merchant


def add_failed(merchant: Merchant, bindo_id: int, **fields) -> ProductBinding:
    now = utcnow()
    values = {
        "name": f"Product {bindo_id}",
        "sku": f"SKU-{bindo_id}",
        "sync_state": SyncState.FAILED.value,
        "error_code": "weight_unreadable",
        "error_field": "weight",
        "error_value": "2 stone",
        "error_message": "The weight '2 stone' could not be read: use a number and a unit.",
        "error_detail": {"status": 422, "errors": {"weight": "must be a number"}},
        "error_retryable": False,
        "attempts": 1,
        "first_error_at": now - timedelta(hours=1),
        "last_error_at": now,
    }
    values.update(fields)
    binding = ProductBinding(merchant_id=merchant.id, bindo_product_id=bindo_id, **values)
    db.session.add(binding)
    db.session.commit()
    return binding


@pytest.fixture
def world(app) -> dict[str, object]:
    """One row in every table an admin view lists (ids start at 1), for route enumeration."""
    merchant = add_merchant("store1")
    binding = add_failed(merchant, 101)
    run = SyncRun(
        merchant_id=merchant.id,
        kind="initial",
        state="running",
        total=10,
        done=4,
        counts={"create": 4},
        started_at=utcnow() - timedelta(seconds=40),
    )
    alert = Alert(dedupe_key="k:1:", kind="sync_failed", merchant_id=merchant.id, message="help")
    log = AuditLog(actor_type="staff", actor="a@bindo.test", action="x", merchant_id=merchant.id)
    note = InstallNotification(merchant_id=merchant.id, kind="install", message="installed")
    order = ImportedOrder(merchant_id=merchant.id, bc_order_id=1001, state="imported")
    db.session.add_all([run, alert, log, note, order])
    db.session.commit()
    return {"merchant": merchant, "binding": binding, "run": run, "alert": alert, "log": log}
