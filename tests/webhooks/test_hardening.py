"""Validly signed but unstorable deliveries get a 400 (never a retried 5xx), and a row nested
too deeply to load fails once in the worker instead of raising RecursionError for ever."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, OperationalError

from portal import webhooks
from portal.extensions import db
from portal.models import WebhookEvent, utcnow
from tests.webhooks.conftest import bc_delivery, bc_payload, bindo_delivery, bindo_event
from worker import inbox


def _rows() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def nested(depth: int) -> str:
    """``depth`` levels of JSON arrays, as text (json.dumps itself recurses)."""
    return "[" * depth + "1" + "]" * depth


def with_extra(payload: dict, extra: str) -> bytes:
    body = json.dumps({**payload, "extra": "@"}, separators=(",", ":"))
    return body.replace('"@"', extra).encode()


@pytest.mark.parametrize("depth", [40, 970])
def test_a_deeply_nested_bigcommerce_body_is_refused_at_parse_time(client, merchant, depth):
    body, headers = bc_delivery(body=with_extra(bc_payload(), nested(depth)))
    response = client.post("/webhooks/bigcommerce", data=body, headers=headers)
    # "too deep", or "bad json" where the parser itself ran out of stack first.
    assert response.status_code == 400
    assert _rows() == 0


def test_ordinary_nesting_is_still_accepted(client, merchant):
    body, headers = bc_delivery(body=with_extra(bc_payload(), nested(20)))
    assert client.post("/webhooks/bigcommerce", data=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "event",
    [
        bindo_event(id="evt_\u0000"),
        bindo_event(event_type="inventory.\u0000updated"),
        bindo_event(product_id=101, note="a\u0000b"),
    ],
    ids=["nul-id", "nul-type", "nul-in-data"],
)
def test_a_bindo_event_with_a_nul_character_is_a_400_not_a_503(client, merchant, event):
    body, headers = bindo_delivery(event)
    headers.pop("Bindo-Event-Id")  # a header cannot carry NUL; the signed body decides
    response = client.post(f"/webhooks/bindo/{merchant.id}", data=body, headers=headers)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "bad data")
    assert _rows() == 0


def test_nan_in_a_body_is_a_400(client, merchant):
    body = json.dumps(bindo_event(quantity=float("nan"))).encode()
    assert b"NaN" in body
    _, headers = bindo_delivery(bindo_event())
    from tests.webhooks.conftest import BINDO_SECRET, bindo_signature

    headers["Bindo-Signature"] = bindo_signature(BINDO_SECRET, body, int(utcnow().timestamp()))
    headers.pop("Bindo-Event-Id")
    response = client.post(f"/webhooks/bindo/{merchant.id}", data=body, headers=headers)
    assert response.status_code == 400


def test_a_value_the_database_refuses_is_a_400_and_an_outage_stays_a_503(
    client, merchant, monkeypatch
):
    def refuse(_conn, _inbound):
        raise DataError("INSERT", {}, Exception("value out of range"))

    monkeypatch.setattr(webhooks, "_store", refuse)
    body, headers = bindo_delivery()
    response = client.post(f"/webhooks/bindo/{merchant.id}", data=body, headers=headers)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "bad data")

    def down(_conn, _inbound):
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(webhooks, "_store", down)
    body, headers = bindo_delivery()
    response = client.post(f"/webhooks/bindo/{merchant.id}", data=body, headers=headers)
    assert response.status_code == 503


def test_the_worker_fails_an_old_row_too_deep_to_load_instead_of_recursing(app, merchant):
    # Stored as text, the way a row accepted before the depth cap sits in the inbox.
    deep = with_extra({"scope": "store/order/created", "data": {}}, nested(995)).decode()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_events (source, event_key, scope, payload, merchant_id,"
                " state, attempts, received_at) VALUES ('bigcommerce', 'deep', "
                "'store/order/created', :payload, :merchant, 'received', 0, :now)"
            ),
            {"payload": deep, "merchant": merchant.id, "now": utcnow().replace(tzinfo=None)},
        )
    event_id = db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.event_key == "deep"))
    inbox.due_for_relay()  # the relay's query loads no payload, so it must not raise
    assert inbox.process(event_id) == "failed"
    state = db.session.scalar(select(WebhookEvent.state).where(WebhookEvent.id == event_id))
    assert state == "failed"
