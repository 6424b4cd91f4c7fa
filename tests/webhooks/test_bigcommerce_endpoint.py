"""POST /webhooks/bigcommerce: verified deliveries are stored once and queued; nothing else is."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import JobRecord, MerchantState, WebhookEvent
from portal.queue import HIGH, get_queue
from tests.webhooks.conftest import (
    CLIENT_SECRET,
    STORE_HASH,
    bc_delivery,
    bc_payload,
    make_merchant,
    standard_signature,
)
from worker import inbox

URL = "/webhooks/bigcommerce"


def _rows() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def _jobs() -> list[str]:
    """The jobs the relay queues for what was stored (the web process queues none itself)."""
    inbox.relay_inbox()
    return get_queue(HIGH).get_job_ids()


def _post(client, body: bytes, headers: dict[str, str]):
    return client.post(URL, data=body, headers=headers)


def test_a_valid_delivery_is_stored_and_queued_once(client, merchant):
    body, headers = bc_delivery(msg_id="msg_valid_1")
    response = _post(client, body, headers)
    assert response.status_code == 200
    event = db.session.scalars(select(WebhookEvent)).one()
    assert (event.source, event.event_key, event.scope) == (
        "bigcommerce",
        "msg_valid_1",
        "store/order/created",
    )
    assert event.merchant_id == merchant.id and event.state == "received"
    assert event.payload["data"] == {"type": "order", "id": 250}
    assert event.enqueued_at is None  # the relay's to queue
    assert _jobs() == [f"evt-{event.id}"]
    assert inbox.relay_inbox() == 0  # queued once


def test_a_redelivery_with_the_same_webhook_id_adds_nothing(client, merchant):
    body, headers = bc_delivery(msg_id="msg_dup")
    assert _post(client, body, headers).status_code == 200
    # BigCommerce re-sends with a fresh timestamp and signature but the same id.
    body2, headers2 = bc_delivery(msg_id="msg_dup", timestamp=int(time.time()) + 1, body=body)
    assert _post(client, body2, headers2).status_code == 200
    assert _post(client, body, headers).status_code == 200  # a replay within the window
    assert _rows() == 1
    assert len([j for j in _jobs() if j.startswith("evt-")]) == 1


@pytest.mark.parametrize("skew", [-240, 240])
def test_clock_skew_of_four_minutes_is_accepted(client, merchant, skew):
    body, headers = bc_delivery(timestamp=int(time.time()) + skew)
    assert _post(client, body, headers).status_code == 200
    assert _rows() == 1


@pytest.mark.parametrize("skew", [-360, 360, -600])
def test_timestamps_six_minutes_off_or_older_replays_are_refused(client, merchant, skew):
    body, headers = bc_delivery(timestamp=int(time.time()) + skew)
    assert _post(client, body, headers).status_code == 401
    assert _rows() == 0 and _jobs() == []


def test_a_wrong_custom_header_is_refused(client, merchant):
    body, headers = bc_delivery(hook_secret="not-the-hook-secret")
    assert _post(client, body, headers).status_code == 401
    del headers["X-Bindo-Hook-Secret"]
    assert _post(client, body, headers).status_code == 401
    assert _rows() == 0 and _jobs() == []


def test_an_active_merchant_without_a_hook_secret_refuses_everything(client, app):
    make_merchant(hook_secret=None)
    body, headers = bc_delivery(hook_secret="")
    assert _post(client, body, headers).status_code == 401
    assert _rows() == 0


def test_an_unknown_producer_is_refused(client, merchant):
    body, headers = bc_delivery(bc_payload(store_hash="zzz999"))
    assert _post(client, body, headers).status_code == 401
    assert _rows() == 0 and _jobs() == []


def test_an_oversize_body_is_refused_before_anything_else(client, merchant):
    payload = bc_payload()
    payload["data"]["padding"] = "x" * 70 * 1024
    body, headers = bc_delivery(payload)
    assert _post(client, body, headers).status_code == 413
    assert _rows() == 0


def test_an_oversize_body_without_a_declared_length_is_refused(client, merchant):
    body, headers = bc_delivery(body=b'{"a":"' + b"x" * 70 * 1024 + b'"}')
    headers.pop("Content-Type")
    # A chunked upload: no Content-Length, the server reads until the stream ends.
    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert _rows() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1,2]",
        b"[" * 5000 + b"]" * 5000,
        json.dumps({"scope": 5, "data": {}, "producer": f"stores/{STORE_HASH}"}).encode(),
        json.dumps({"scope": "s", "data": [], "producer": f"stores/{STORE_HASH}"}).encode(),
        json.dumps({"scope": "s", "data": {}, "producer": "stores/ABC"}).encode(),
        json.dumps({"scope": "s", "data": {}, "producer": f"stores/{STORE_HASH}/x"}).encode(),
        json.dumps({"scope": "s", "data": {}}).encode(),
    ],
)
def test_bad_json_or_shape_with_a_valid_signature_is_a_400(client, merchant, body):
    _, headers = bc_delivery(body=body)
    headers["webhook-signature"] = standard_signature(
        CLIENT_SECRET, headers["webhook-id"], headers["webhook-timestamp"], body
    )
    assert _post(client, body, headers).status_code == 400
    assert _rows() == 0 and _jobs() == []


@pytest.mark.parametrize("state", [MerchantState.PAUSED.value, MerchantState.UNINSTALLED.value])
def test_events_for_a_paused_or_uninstalled_store_are_acknowledged_and_dropped(client, app, state):
    make_merchant(state=state)
    body, headers = bc_delivery()
    assert _post(client, body, headers).status_code == 200
    assert _rows() == 0 and _jobs() == []


def test_an_uninstalled_store_whose_hook_secret_was_shredded_still_gets_200(client, app):
    make_merchant(state=MerchantState.UNINSTALLED.value, hook_secret=None)
    body, headers = bc_delivery(hook_secret="anything")
    assert _post(client, body, headers).status_code == 200
    assert _rows() == 0


def test_a_paused_store_still_records_its_uninstall(client, app):
    make_merchant(state=MerchantState.PAUSED.value)
    body, headers = bc_delivery(bc_payload("store/app/uninstalled", type="store"))
    assert _post(client, body, headers).status_code == 200
    assert _rows() == 1 and len([j for j in _jobs() if j.startswith("evt-")]) == 1


def test_the_route_needs_no_csrf_token(app, merchant, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    body, headers = bc_delivery()
    assert app.test_client().post(URL, data=body, headers=headers).status_code == 200


# --- T02: forgeries ----------------------------------------------------------------------


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def _forge(kind: str, bit: int, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict]:
    headers = dict(headers)
    sig = base64.b64decode(headers["webhook-signature"][3:])
    if kind == "body":
        body = _flip(body, bit)
    elif kind == "signature":
        headers["webhook-signature"] = "v1," + base64.b64encode(_flip(sig, bit)).decode()
    elif kind == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1 + bit % 200)
    elif kind == "id":
        headers["webhook-id"] = headers["webhook-id"][:-1] + chr(33 + bit % 90)
        if headers["webhook-id"].endswith(chr(33 + bit % 90)) and bit % 90 == 0:
            headers["webhook-id"] += "x"
    elif kind == "secret":
        _, signed = bc_delivery(msg_id=headers["webhook-id"], secret=f"wrong-{bit}", body=body)
        headers["webhook-signature"] = signed["webhook-signature"]
    elif kind.startswith("missing:"):
        del headers[kind.split(":", 1)[1]]
    elif kind == "v1a-only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v1a,")
    elif kind == "reserialized":
        body = json.dumps(json.loads(body), indent=bit % 3 or None, sort_keys=True).encode()
    return body, headers


KINDS = [
    "body",
    "signature",
    "timestamp",
    "id",
    "secret",
    "missing:webhook-id",
    "missing:webhook-timestamp",
    "missing:webhook-signature",
    "v1a-only",
    "reserialized",
]


@given(kind=st.sampled_from(KINDS), bit=st.integers(min_value=0, max_value=4095))
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_forged_deliveries_are_refused_and_leave_nothing(client, merchant, kind, bit):
    body, headers = bc_delivery(msg_id="msg_forge_base")
    forged_body, forged_headers = _forge(kind, bit, body, headers)
    if forged_body == body and forged_headers == headers:
        return  # the mutation happened to be a no-op
    response = _post(client, forged_body, forged_headers)
    assert response.status_code == 401, kind
    assert _rows() == 0
    assert _jobs() == []
    assert db.session.scalar(select(func.count()).select_from(JobRecord)) == 0
