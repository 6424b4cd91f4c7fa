"""The intake fast path: served in front of Flask, its held connection, its sender cache."""

from __future__ import annotations

from sqlalchemy import select, update

from portal import webhooks
from portal.crypto import encrypt
from portal.extensions import db
from portal.models import Merchant, MerchantState, WebhookEvent
from portal.queue import HIGH, get_queue, put_event_job
from tests.conftest import wait_for
from tests.webhooks.conftest import bc_delivery, bc_payload
from worker import inbox

URL = "/webhooks/bigcommerce"


def _deliver(client, count: int, payload: dict | None = None) -> list[str]:
    """POST ``count`` fresh signed deliveries; the answers' texts."""
    answers = []
    for _ in range(count):
        body, headers = bc_delivery(payload)
        answers.append(client.post(URL, data=body, headers=headers).text)
    return answers


def _events() -> list[WebhookEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def test_a_delivery_is_answered_without_a_session_cookie_and_with_security_headers(
    app, client, merchant
):
    body, headers = bc_delivery()
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 200 and response.text == "ok"
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert len(_events()) == 1
    assert get_queue(HIGH).get_job_ids() == []  # the clock's relay queues it


def test_routing_answers_stay_flasks_own(app, client, merchant):
    assert client.get(URL).status_code == 405
    body, headers = bc_delivery()
    assert client.post(f"/webhooks/bindo/{2**31}", data=body, headers=headers).status_code == 404
    assert client.post("/webhooks/nowhere", data=body, headers=headers).status_code == 404
    assert _events() == []


def test_an_unexpected_error_is_a_plain_500_and_stores_nothing(app, client, merchant, monkeypatch):
    def broken(*_args):
        raise RuntimeError("bug")

    monkeypatch.setattr(webhooks, "_json_object", broken)
    body, headers = bc_delivery()
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 500 and response.text == "error"
    assert _events() == []


def test_a_dead_held_connection_costs_no_delivery(app, client, merchant):
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    engine = webhooks.intake_engine()
    [held] = [c for e, c in webhooks._Connection._held().items() if e is engine]
    held.connection.dbapi_connection.close()  # the server went away under it

    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert len(_events()) == 2
    [again] = [c for e, c in webhooks._Connection._held().items() if e is engine]
    assert again is not held


def test_a_cached_sender_never_refuses_a_rotated_secret(app, client, merchant):
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    # Another process rotates the hook secret (no ORM event reaches this process's cache).
    with db.engine.begin() as conn:
        conn.execute(
            update(Merchant)
            .where(Merchant.id == merchant.id)
            .values(hook_secret_enc=encrypt("rotated-hook-secret-0123456789"))
        )
    body, headers = bc_delivery(hook_secret="rotated-hook-secret-0123456789")
    assert client.post(URL, data=body, headers=headers).status_code == 200
    body, headers = bc_delivery()  # the old secret: refused on the fresh read
    assert client.post(URL, data=body, headers=headers).status_code == 401
    assert len(_events()) == 2


def test_a_cached_sender_never_drops_for_a_resumed_store(app, client, merchant):
    merchant.state = MerchantState.PAUSED.value
    db.session.commit()
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).text == "ignored"
    # Resumed by another process: the cache said "paused", the fresh read says active.
    with db.engine.begin() as conn:
        conn.execute(
            update(Merchant)
            .where(Merchant.id == merchant.id)
            .values(state=MerchantState.ACTIVE.value)
        )
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).text == "ok"
    assert len(_events()) == 1


def test_a_change_made_in_this_process_is_seen_at_once(app, client, merchant):
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).text == "ok"
    merchant.state = MerchantState.PAUSED.value
    db.session.commit()  # the ORM change clears this process's cached senders
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).text == "ignored"
    assert len(_events()) == 1


def test_the_intake_queues_nothing_and_the_relay_queues_each_new_row_once(
    app, client, merchant, redis_conn
):
    assert _deliver(client, 5) == ["ok"] * 5
    assert redis_conn.dbsize() == 0  # the web process does not touch Redis at all
    events = _events()
    assert inbox.relay_inbox() == 5
    assert get_queue(HIGH).get_job_ids() == [f"evt-{e.id}" for e in events]
    assert all(e.enqueued_at is not None for e in _events())
    assert inbox.relay_inbox() == 0
    assert _deliver(client, 1) == ["ok"]
    assert inbox.relay_inbox() == 1


def test_a_duplicate_delivery_and_a_duplicate_job_process_the_event_once(
    app, client, merchant, worker_process
):
    """The same delivery twice is one row; the row's job queued twice (two relays, or a relay
    racing a slow job) runs the row once: the row's state is the dedupe authority."""
    body, headers = bc_delivery(bc_payload(scope="store/unknown/thing"))
    assert client.post(URL, data=body, headers=headers).text == "ok"
    assert client.post(URL, data=body, headers=headers).text == "ok"
    [event] = _events()
    assert inbox.relay_inbox() == 1
    put_event_job(event.id)  # a second copy of its job
    assert get_queue(HIGH).count == 2
    worker_process()
    assert wait_for(
        lambda: get_queue(HIGH).count == 0 and _events()[0].state == "ignored", timeout=60
    )
    [event] = _events()
    assert event.attempts == 1  # claimed once; the other run found it done


def test_a_real_worker_processes_every_row_of_a_burst(app, client, merchant, worker_process):
    assert _deliver(client, 4, bc_payload(scope="store/unknown/thing")) == ["ok"] * 4
    worker_process()  # with the clock, whose relay queues the rows
    assert wait_for(lambda: [e.state for e in _events()] == ["ignored"] * 4, timeout=30)
