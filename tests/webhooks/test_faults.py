"""Faults around the intake: Redis down or wiped (the relay heals), database down (503)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from portal import create_app, webhooks
from portal.extensions import db
from portal.models import JobRecord, WebhookEvent
from portal.queue import HIGH, get_queue
from tests.conftest import base_config
from tests.webhooks.conftest import bc_delivery, bindo_delivery
from worker import inbox

URL = "/webhooks/bigcommerce"


@pytest.fixture(scope="module")
def redis_down_app(database_url):
    return create_app(base_config(database_url, REDIS_URL="redis://127.0.0.1:1/0"))


@pytest.fixture(scope="module")
def db_down_app(database_url):
    return create_app(base_config("postgresql://postgres@127.0.0.1:1/x"))


def _events() -> list[WebhookEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEvent)))


def test_redis_down_changes_nothing_for_the_intake(app, merchant, redis_down_app):
    body, headers = bc_delivery()
    response = redis_down_app.test_client().post(URL, data=body, headers=headers)
    assert response.status_code == 200
    [event] = _events()
    assert event.enqueued_at is None and event.state == "received"


def test_bindo_with_redis_down_is_also_durable(app, merchant, redis_down_app):
    body, headers = bindo_delivery()
    response = redis_down_app.test_client().post(
        f"/webhooks/bindo/{merchant.id}", data=body, headers=headers
    )
    assert response.status_code == 200
    assert [e.enqueued_at for e in _events()] == [None]


def test_a_row_the_relay_could_not_queue_is_queued_when_redis_is_back(
    app, client, merchant, redis_down_app
):
    """The relay's enqueue fails while Redis is down; nothing is stamped, so the next pass
    after Redis returns queues the row."""
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    with redis_down_app.app_context(), pytest.raises(RedisConnectionError):
        inbox.relay_inbox()
    [event] = _events()
    assert event.enqueued_at is None
    assert get_queue(HIGH).get_job_ids() == []
    assert inbox.relay_inbox() == 1  # Redis is back (the main app's Redis is up)
    assert get_queue(HIGH).get_job_ids() == [f"evt-{event.id}"]
    assert inbox.relay_inbox() == 0  # a second pass does not queue it twice


def test_jobs_lost_with_redis_are_relayed(app, client, merchant, redis_conn, monkeypatch):
    for _ in range(3):
        body, headers = bc_delivery()
        assert client.post(URL, data=body, headers=headers).status_code == 200
    assert inbox.relay_inbox() == 3
    redis_conn.flushdb()  # FLUSHALL stand-in: every queued job is gone
    assert inbox.relay_inbox() == 0  # queued recently: not looked at yet

    monkeypatch.setattr(inbox, "RELAY_AFTER_SECONDS", 0)
    assert inbox.relay_inbox() == 3
    assert sorted(get_queue(HIGH).get_job_ids()) == sorted(f"evt-{e.id}" for e in _events())
    assert inbox.relay_inbox() == 0  # their jobs are in Redis again: left alone


def test_a_phantom_job_is_relayed(app, client, merchant, redis_conn, monkeypatch):
    """A crash can keep a job's hash ("queued") but lose its queue entry: RQ would never run
    it, so the relay queues it again."""
    body, headers = bc_delivery()
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert inbox.relay_inbox() == 1
    [event] = _events()
    redis_conn.lrem(get_queue(HIGH).key, 0, f"evt-{event.id}")
    assert redis_conn.exists(f"rq:job:evt-{event.id}")
    monkeypatch.setattr(inbox, "RELAY_AFTER_SECONDS", 0)
    assert inbox.relay_inbox() == 1
    assert get_queue(HIGH).get_job_ids() == [f"evt-{event.id}"]


def test_the_relay_leaves_queued_and_finished_rows_alone(app, client, merchant, monkeypatch):
    body, headers = bc_delivery()
    client.post(URL, data=body, headers=headers)
    [event] = _events()
    monkeypatch.setattr(inbox, "RELAY_AFTER_SECONDS", 0)
    inbox.relay_inbox()
    inbox.relay_inbox()
    assert get_queue(HIGH).get_job_ids() == [f"evt-{event.id}"]
    event.state = "processed"
    db.session.commit()
    get_queue(HIGH).empty()
    inbox.relay_inbox()
    assert get_queue(HIGH).get_job_ids() == []


def test_database_down_answers_503_never_200(app, db_down_app):
    client = db_down_app.test_client()
    for make in (bc_delivery, bindo_delivery):
        body, headers = make()
        path = URL if make is bc_delivery else "/webhooks/bindo/1"
        assert client.post(path, data=body, headers=headers).status_code == 503


def test_a_failed_insert_answers_503_and_stores_nothing(app, client, merchant):
    def connection_lost(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO WEBHOOK_EVENTS"):
            raise OperationalError(statement, {}, Exception("connection lost"))

    body, headers = bc_delivery()
    engine = webhooks.intake_engine()
    sa_event.listen(engine, "before_cursor_execute", connection_lost)
    try:
        assert client.post(URL, data=body, headers=headers).status_code == 503
    finally:
        sa_event.remove(engine, "before_cursor_execute", connection_lost)
    assert _events() == []
    assert db.session.scalars(select(JobRecord)).all() == []
    # BigCommerce retries; this time the row commits.
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert len(_events()) == 1
