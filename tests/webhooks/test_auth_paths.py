"""Issue 15 item 2: BigCommerce deliveries authenticate by the hook's custom header; a
signature is verified when present, and required only when the setting says so. Which path a
merchant's deliveries used, and their header names (never values), are recorded for staff."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, WebhookEvent
from tests.conftest import login, make_staff
from tests.webhooks.conftest import HOOK_SECRET, bc_delivery, bc_payload

URL = "/webhooks/bigcommerce"


def unsigned(payload: dict | None = None, hook_secret: str = HOOK_SECRET):
    body = json.dumps(payload or bc_payload(), separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Bindo-Hook-Secret": hook_secret}


def merchant_row(merchant_id: int) -> Merchant:
    db.session.expire_all()
    return db.session.get(Merchant, merchant_id)


def test_an_unsigned_delivery_with_the_custom_header_is_stored(client, merchant):
    payload = bc_payload(type="order", id=77)
    body, headers = unsigned(payload)
    assert client.post(URL, data=body, headers=headers).status_code == 200
    event = db.session.scalars(select(WebhookEvent)).one()
    assert event.event_key == f"store/order/created:{payload['hash']}:{payload['created_at']}"
    stored = merchant_row(merchant.id)
    assert stored.webhook_auth_path == "header"
    assert "x-bindo-hook-secret" in stored.webhook_header_names
    assert "webhook-signature" not in stored.webhook_header_names
    assert HOOK_SECRET not in json.dumps(stored.webhook_header_names)  # names, never values


def test_a_re_sent_unsigned_event_is_stored_once(client, merchant):
    body, headers = unsigned()
    for _ in range(2):
        assert client.post(URL, data=body, headers=headers).status_code == 200
    assert len(db.session.scalars(select(WebhookEvent)).all()) == 1


def test_an_unsigned_delivery_with_a_wrong_or_missing_header_is_refused(client, merchant):
    body, headers = unsigned(hook_secret="not-the-secret")
    assert client.post(URL, data=body, headers=headers).status_code == 401
    del headers["X-Bindo-Hook-Secret"]
    assert client.post(URL, data=body, headers=headers).status_code == 401
    assert db.session.scalars(select(WebhookEvent)).all() == []
    assert merchant_row(merchant.id).webhook_auth_path is None


def test_a_signed_delivery_needs_both_the_header_and_a_valid_signature(client, merchant):
    body, headers = bc_delivery(hook_secret="wrong")
    assert client.post(URL, data=body, headers=headers).status_code == 401
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert merchant_row(merchant.id).webhook_auth_path == "header+signature"
    assert "webhook-signature" in merchant_row(merchant.id).webhook_header_names


def test_the_setting_makes_the_signature_mandatory(app, client, merchant, monkeypatch):
    monkeypatch.setitem(app.config, "BIGCOMMERCE_WEBHOOK_SIGNATURE_REQUIRED", True)
    body, headers = unsigned()
    assert client.post(URL, data=body, headers=headers).status_code == 401
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200


def test_the_path_is_recorded_once_not_per_delivery(client, merchant):
    body, headers = unsigned(bc_payload(type="order", id=1))
    client.post(URL, data=body, headers=headers)
    first = merchant_row(merchant.id).webhook_auth_seen_at
    body, headers = unsigned(bc_payload(type="order", id=2))
    client.post(URL, data=body, headers=headers)
    assert merchant_row(merchant.id).webhook_auth_seen_at == first


def test_the_manage_page_shows_the_path_and_header_names(client, merchant):
    body, headers = unsigned()
    client.post(URL, data=body, headers=headers)
    make_staff()
    login(client)
    page = client.get(f"/admin/merchants/{merchant.id}/manage").get_data(as_text=True)
    assert "custom header only" in page and "x-bindo-hook-secret" in page
    assert HOOK_SECRET not in page


def test_unsigned_deliveries_from_the_simulator_reach_the_inbox(stack):
    """The harsher case the simulator models with sign_webhooks off: custom headers only."""
    from tests.orders.helpers import place_order, subscribe_orders
    from tests.stock.helpers import bound_product

    stack.bc.config.sign_webhooks = False
    m = stack.linked_merchant("unsig1")
    subscribe_orders(stack, m, ("store/order/created",))
    b = bound_product(stack, m)
    first = place_order(stack, "unsig1", [{"product_id": b.bc_product_id, "quantity": 1}])
    second = place_order(stack, "unsig1", [{"product_id": b.bc_product_id, "quantity": 1}])
    assert stack.bc.wait_deliveries(timeout=20)
    assert {d["status"] for d in stack.bc.deliveries} == {200}
    db.session.expire_all()
    events = db.session.scalars(select(WebhookEvent)).all()
    assert sorted(e.payload["data"]["id"] for e in events) == [first, second]
    stored = merchant_row(m.id)
    assert stored.webhook_auth_path == "header"
    assert "x-bindo-hook-secret" in stored.webhook_header_names
