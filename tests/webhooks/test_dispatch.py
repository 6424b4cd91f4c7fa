"""worker.inbox: each inbox row reaches its handler at most once to completion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditLog,
    InstallNotification,
    Merchant,
    MerchantState,
    WebhookEvent,
    utcnow,
)
from tests.webhooks.conftest import bc_payload, make_merchant
from worker import inbox
from worker.context import MerchantInactive

SCOPE = "store/test/ping"  # a scope no area owns, so test handlers never clash with real ones


def _event(merchant: Merchant, scope: str = SCOPE, key: str = "k1", **kw) -> WebhookEvent:
    event = WebhookEvent(
        source="bigcommerce",
        event_key=key,
        scope=scope,
        payload=bc_payload(scope),
        merchant_id=merchant.id,
        **kw,
    )
    db.session.add(event)
    db.session.commit()
    return event


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Register a recording handler for SCOPE; returns the list of event ids it saw."""
    seen: list[int] = []
    inbox.load_areas()  # let real areas register first, so ours only adds a test scope
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), lambda e, m: seen.append(e.id))
    return seen


def _state(event_id: int) -> WebhookEvent:
    db.session.expire_all()
    return db.session.get(WebhookEvent, event_id)


def test_a_handled_event_is_processed_once_however_often_it_runs(merchant, calls):
    event = _event(merchant)
    assert inbox.process(event.id) == "processed"
    assert inbox.process(event.id) == "processed"  # a duplicate job for the same row
    assert calls == [event.id]
    row = _state(event.id)
    assert row.processed_at is not None and row.error is None and row.attempts == 1


def test_a_scope_without_handler_is_ignored(merchant):
    event = _event(merchant, scope="store/nobody/listens")
    assert inbox.process(event.id) == "ignored"
    assert "no handler" in _state(event.id).error


@pytest.mark.parametrize(
    "state", [MerchantState.PAUSED.value, MerchantState.INSTALLED.value, "needs_reauth"]
)
def test_events_of_a_merchant_that_is_not_syncing_are_ignored(app, calls, state):
    event = _event(make_merchant(state=state))
    assert inbox.process(event.id) == "ignored"
    assert calls == []


def test_a_failing_handler_records_the_error_and_reraises(merchant, monkeypatch):
    def boom(event, merchant):
        raise RuntimeError("bindo said no")

    inbox.load_areas()
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), boom)
    event = _event(merchant)
    with pytest.raises(RuntimeError, match="bindo said no"):
        inbox.process(event.id)
    row = _state(event.id)
    assert (row.state, row.attempts, row.locked_until) == ("received", 1, None)
    assert row.error == "RuntimeError: bindo said no"


def test_a_handler_that_keeps_failing_ends_failed_and_the_relay_stops(merchant, monkeypatch):
    def boom(event, merchant):
        raise RuntimeError("still broken")

    inbox.load_areas()
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), boom)
    event = _event(merchant)
    for _ in range(inbox.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            inbox.process(event.id)
    assert _state(event.id).state == "failed"
    assert inbox.process(event.id) == "failed"
    monkeypatch.setattr(inbox, "RELAY_AFTER_SECONDS", 0)
    assert event.id not in [e.id for e in inbox.due_for_relay()]


def test_a_handler_finding_the_merchant_inactive_marks_the_event_ignored(merchant, monkeypatch):
    def inactive(event, merchant):
        raise MerchantInactive("merchant is not linked")

    inbox.load_areas()
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), inactive)
    event = _event(merchant)
    assert inbox.process(event.id) == "ignored"


def test_a_run_while_another_holds_the_lease_does_nothing(merchant, calls):
    event = _event(merchant, state="processing", locked_until=utcnow() + timedelta(seconds=60))
    assert inbox.process(event.id) == "busy"
    assert calls == []


def test_an_expired_lease_is_taken_over_and_relayed(merchant, calls):
    event = _event(merchant, state="processing", locked_until=utcnow() - timedelta(seconds=1))
    assert event.id in [e.id for e in inbox.due_for_relay()]
    assert inbox.process(event.id) == "processed"
    assert calls == [event.id]


def test_runs_interrupted_too_often_give_up(merchant, calls):
    event = _event(merchant, attempts=inbox.MAX_ATTEMPTS)
    assert inbox.process(event.id) == "failed"
    assert calls == []


def test_handler_changes_commit_with_the_processed_mark(merchant, monkeypatch):
    def rename(event, merchant):
        merchant.store_name = "renamed by handler"

    inbox.load_areas()
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), rename)
    event = _event(merchant)
    inbox.process(event.id)
    db.session.expire_all()
    assert db.session.get(Merchant, merchant.id).store_name == "renamed by handler"


def test_uninstall_event_marks_the_store_uninstalled_and_shreds_the_token(app):
    merchant = make_merchant(state=MerchantState.PAUSED.value)
    event = _event(merchant, scope="store/app/uninstalled")
    assert inbox.process(event.id) == "processed"
    db.session.expire_all()
    merchant = db.session.get(Merchant, merchant.id)
    assert merchant.state == "uninstalled" and merchant.access_token_enc is None
    assert merchant.uninstalled_at is not None
    [entry] = db.session.scalars(select(AuditLog)).all()
    assert entry.action == "merchant.uninstall" and entry.actor_type == "bigcommerce"
    assert db.session.scalars(select(InstallNotification)).one().kind == "uninstall"
    # A second uninstall event changes nothing and audits nothing.
    inbox.process(_event(merchant, scope="store/app/uninstalled", key="k2").id)
    assert len(db.session.scalars(select(AuditLog)).all()) == 1


def test_registering_a_second_handler_for_a_scope_is_refused(monkeypatch):
    monkeypatch.setattr(inbox, "HANDLERS", {})

    @inbox.handles("bindo", "x.happened")
    def first(event, merchant):
        pass

    with pytest.raises(ValueError, match="already handled"):

        @inbox.handles("bindo", "x.happened")
        def second(event, merchant):
            pass


def test_missing_area_modules_are_tolerated_but_broken_ones_are_not(monkeypatch):
    monkeypatch.setattr(inbox, "AREA_MODULES", ("worker.sync.not_written_yet",))
    inbox.load_areas()
    monkeypatch.setattr(inbox, "AREA_MODULES", ("tests.webhooks.broken_area",))
    with pytest.raises(ModuleNotFoundError):
        inbox.load_areas()


def test_the_job_entry_point_processes_through_tracked(app, merchant, calls, monkeypatch):
    import worker.runtime
    from worker.jobs.inbox import process_event

    monkeypatch.setattr(worker.runtime, "_app", app)
    event_id = _event(merchant).id
    assert process_event(event_id) == "processed"
    assert calls == [event_id]


def test_an_open_circuit_defers_without_using_an_attempt(merchant, monkeypatch):
    from worker.clients.errors import CircuitOpen

    def circuit_open(event, merchant):
        raise CircuitOpen("circuit open", retry_after=120)

    inbox.load_areas()
    monkeypatch.setitem(inbox.HANDLERS, ("bigcommerce", SCOPE), circuit_open)
    event = _event(merchant)
    assert inbox.process(event.id) == "deferred"  # the job ends; no RQ retry is used up
    row = _state(event.id)
    assert (row.state, row.attempts) == ("received", 0)
    assert event.id not in [e.id for e in inbox.due_for_relay()]  # not into the open circuit
    later = utcnow() + timedelta(seconds=121)
    monkeypatch.setattr(inbox, "utcnow", lambda: later)
    assert event.id in [e.id for e in inbox.due_for_relay()]  # the relay sends it when due
