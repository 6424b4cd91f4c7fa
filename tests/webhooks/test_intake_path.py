"""The intake fast path: served in front of Flask, its held connection, its sender cache."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import bindparam, select, update

from portal import webhooks
from portal.crypto import encrypt
from portal.extensions import db
from portal.models import Merchant, MerchantState, WebhookEvent
from portal.queue import HIGH, get_queue, inbox_dispatch_key, put_on_queue
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
    [event] = _events()
    assert get_queue(HIGH).get_job_ids() == [f"evt-{event.id}"]


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


def test_deliveries_share_one_dispatch_until_a_job_starts(app, client, merchant, redis_conn):
    assert _deliver(client, 5) == ["ok"] * 5
    events = _events()
    # The first found no dispatch pending and queued its own job; the other four wait for it.
    assert get_queue(HIGH).get_job_ids() == [f"evt-{events[0].id}"]
    assert [e.enqueued_at is not None for e in events] == [True] + [False] * 4

    assert inbox.dispatch(signalled=False) == 4  # a job starts: later rows need a new signal
    assert inbox.dispatch(signalled=False) == 0  # the next job finds no signal
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).text == "ok"
    events = _events()
    assert get_queue(HIGH).get_job_ids() == [f"evt-{e.id}" for e in events]
    assert all(e.enqueued_at is not None for e in events)


def test_the_signalled_job_dispatches_even_after_the_signal_expired(
    app, client, merchant, redis_conn
):
    assert _deliver(client, 3) == ["ok"] * 3
    events = _events()
    [job] = get_queue(HIGH).get_jobs()
    assert (job.id, job.args) == (f"evt-{events[0].id}", [events[0].id, True])
    # Its job waited behind a backlog (or a restarting worker) longer than the key lives.
    redis_conn.delete(inbox_dispatch_key())
    assert inbox.dispatch(signalled=False) == 0  # any other job: nothing signalled
    assert inbox.dispatch(signalled=True) == 2  # the signalled job still covers them


def test_a_row_claimed_first_by_a_running_dispatch_gets_a_dispatch_job_for_the_signal(
    app, client, merchant, redis_conn, monkeypatch
):
    assert _deliver(client, 1) == ["ok"]
    redis_conn.delete(inbox_dispatch_key())  # its job started: the signal is taken
    get_queue(HIGH).empty()
    # The next row is claimed by that job's dispatch between its commit and its signal, and
    # the job it queued may start before the signal is set, so no processing job takes it.
    claimed_first = (
        update(WebhookEvent)
        .where(WebhookEvent.id == bindparam("event_id"), WebhookEvent.id < 0)
        .values(enqueued_at=bindparam("now"))
        .returning(WebhookEvent.id)
    )
    monkeypatch.setattr(webhooks, "_CLAIM", claimed_first)
    assert _deliver(client, 1) == ["ok"]
    second = _events()[1]
    assert redis_conn.exists(inbox_dispatch_key())
    assert get_queue(HIGH).get_job_ids() == [f"inbox_dispatch-{second.id}"]
    # That job takes the signal and queues what is unqueued (here the unclaimed row stands in
    # for the rows stored while the signal was set).
    assert inbox.dispatch_received() == 1
    assert not redis_conn.exists(inbox_dispatch_key())


def test_a_second_dispatch_queues_nothing_twice(app, client, merchant):
    _deliver(client, 3)
    assert inbox.dispatch_received() == 2  # the first delivery queued its own
    assert inbox.dispatch_received() == 0
    assert len([j for j in get_queue(HIGH).get_job_ids() if j.startswith("evt-")]) == 3


def test_a_dispatch_that_fails_costs_the_starting_job_nothing(app, client, merchant, monkeypatch):
    _deliver(client, 2)

    def broken(*_args, **_kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(inbox, "_queue_unqueued", broken)
    assert inbox.dispatch(signalled=True) == 0  # logged, not raised: the job goes on
    assert [e.enqueued_at is None for e in _events()] == [False, True]  # the relay's row


def test_a_dispatch_that_redis_refuses_hands_its_rows_back(app, client, merchant, monkeypatch):
    _deliver(client, 2)

    def refused(*_args, **_kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(inbox, "put_event_job", refused)
    with pytest.raises(RedisConnectionError):
        inbox.dispatch_received()
    # The first delivery's row was queued by the delivery; the second is the relay's again.
    assert [e.enqueued_at is None for e in _events()] == [False, True]
    monkeypatch.undo()
    assert inbox.dispatch_received() == 1


def test_a_real_worker_processes_every_row_of_a_burst(app, client, merchant, worker_process):
    assert _deliver(client, 4, bc_payload(scope="store/unknown/thing")) == ["ok"] * 4
    assert len(get_queue(HIGH).get_job_ids()) == 1  # the first row's job dispatches the rest
    worker_process()
    assert wait_for(lambda: [e.state for e in _events()] == ["ignored"] * 4, timeout=30)


def test_a_dispatch_job_of_the_previous_release_still_runs(app, client, merchant, worker_process):
    body, headers = bc_delivery(bc_payload(scope="store/unknown/thing"))
    assert client.post(URL, data=body, headers=headers).text == "ok"
    get_queue(HIGH).empty()
    db.session.execute(update(WebhookEvent).values(enqueued_at=None))
    db.session.commit()
    put_on_queue("worker.jobs.inbox.dispatch_received", queue=HIGH, job_id="inbox_dispatch-1")
    worker_process()
    assert wait_for(lambda: _events()[0].state == "ignored", timeout=30)
