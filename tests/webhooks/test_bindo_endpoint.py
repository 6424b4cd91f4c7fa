"""POST /webhooks/bindo/<merchant_id>: the same inbox design with Bindo's signature scheme."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MerchantState, WebhookEvent
from portal.queue import HIGH, get_queue
from tests.webhooks.conftest import (
    BINDO_SECRET,
    bindo_delivery,
    bindo_event,
    bindo_signature,
    make_merchant,
)
from worker import inbox


def _rows() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def _post(client, merchant_id: int, body: bytes, headers: dict[str, str]):
    return client.post(f"/webhooks/bindo/{merchant_id}", data=body, headers=headers)


def test_a_valid_bindo_event_is_stored_and_queued(client, merchant):
    event = bindo_event(id="evt_1")
    body, headers = bindo_delivery(event)
    assert _post(client, merchant.id, body, headers).status_code == 200
    row = db.session.scalars(select(WebhookEvent)).one()
    assert (row.source, row.event_key, row.scope, row.merchant_id) == (
        "bindo",
        "evt_1",
        "inventory.updated",
        merchant.id,
    )
    assert get_queue(HIGH).get_job_ids() == []  # the web process queues nothing
    assert inbox.relay_inbox() == 1 and inbox.relay_inbox() == 0
    assert get_queue(HIGH).get_job_ids() == [f"evt-{row.id}"]


def test_a_replayed_bindo_event_within_the_window_adds_nothing(client, merchant):
    body, headers = bindo_delivery(bindo_event(id="evt_replay"))
    assert _post(client, merchant.id, body, headers).status_code == 200
    assert _post(client, merchant.id, body, headers).status_code == 200
    assert _rows() == 1
    assert inbox.relay_inbox() == 1


@pytest.mark.parametrize("skew", [-360, 360, -600])
def test_a_stale_bindo_signature_is_refused(client, merchant, skew):
    body, headers = bindo_delivery(t=int(time.time()) + skew)
    assert _post(client, merchant.id, body, headers).status_code == 401
    assert _rows() == 0


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, h: (body + b" ", h),
        lambda body, h: (
            body,
            {**h, "Bindo-Signature": bindo_signature("x", body, int(time.time()))},
        ),
        lambda body, h: (body, {k: v for k, v in h.items() if k != "Bindo-Signature"}),
        lambda body, h: (body, {**h, "Bindo-Signature": h["Bindo-Signature"].replace("v1", "v0")}),
        lambda body, h: (json.dumps(json.loads(body), indent=1).encode(), h),
    ],
    ids=["body", "wrong-secret", "missing", "other-version", "reserialized"],
)
def test_forged_bindo_events_are_refused(client, merchant, forge):
    body, headers = forge(*bindo_delivery())
    assert _post(client, merchant.id, body, headers).status_code == 401
    assert _rows() == 0 and get_queue(HIGH).get_job_ids() == []


def test_unknown_merchant_and_merchant_without_secret_get_the_same_answer(client, app):
    linked = make_merchant()
    bare = make_merchant("def456", bindo_secret=None)
    body, headers = bindo_delivery()
    unknown = _post(client, linked.id + 1000, body, headers)
    no_secret = _post(client, bare.id, body, headers)
    assert unknown.status_code == no_secret.status_code == 401
    assert unknown.get_data() == no_secret.get_data()
    assert _rows() == 0


def test_a_store_id_that_is_not_the_merchants_is_refused(client, merchant):
    body, headers = bindo_delivery(bindo_event(store_id="store-2"))
    assert _post(client, merchant.id, body, headers).status_code == 401
    assert _rows() == 0


def test_an_event_id_header_that_differs_from_the_body_is_refused(client, merchant):
    body, headers = bindo_delivery(bindo_event(id="evt_a"))
    headers["Bindo-Event-Id"] = "evt_b"
    assert _post(client, merchant.id, body, headers).status_code == 400
    assert _rows() == 0


@pytest.mark.parametrize(
    "event",
    [
        {"id": 5, "type": "t", "store_id": "store-1", "data": {}},
        {"id": "e", "type": None, "store_id": "store-1", "data": {}},
        {"id": "e", "type": "t", "store_id": "store-1", "data": "x"},
        ["not", "an", "object"],
    ],
)
def test_a_signed_body_of_the_wrong_shape_is_a_400(client, merchant, event):
    body = json.dumps(event).encode()
    headers = {"Bindo-Signature": bindo_signature(BINDO_SECRET, body, int(time.time()))}
    assert _post(client, merchant.id, body, headers).status_code == 400
    assert _rows() == 0


def test_a_paused_merchant_is_acknowledged_and_nothing_stored(client, app):
    paused = make_merchant(state=MerchantState.PAUSED.value)
    body, headers = bindo_delivery()
    assert _post(client, paused.id, body, headers).status_code == 200
    assert _rows() == 0
