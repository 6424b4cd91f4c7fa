"""The periodic alert checks of worker/alerts.py: a queue backlog, and a product that keeps
failing; both open one alert, never bump it on every tick, and resolve once cleared."""

from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import Alert, SyncState, utcnow
from portal.queue import DEFAULT, HIGH, LOW, get_queue
from tests.admin.conftest import add_failed, add_merchant
from worker import alerts, periodic


def queued_job(name: str, waited: timedelta):
    """A job on queue ``name`` that was enqueued ``waited`` ago."""
    job = get_queue(name).enqueue("worker.jobs.diagnostics_echo", "hello")
    job.enqueued_at = utcnow() - waited
    job.save()
    return job


def open_alerts(kind: str) -> list[Alert]:
    db.session.expire_all()
    return db.session.query(Alert).filter_by(kind=kind, resolved_at=None).all()


def test_the_tick_registers_both_checks():
    assert alerts.check_queue_backlog in periodic.CHECKS
    assert alerts.check_failing_products in periodic.CHECKS


def test_an_old_job_in_high_or_default_opens_a_backlog_alert_until_the_queue_clears(app):
    queued_job(HIGH, timedelta(seconds=400))
    queued_job(DEFAULT, timedelta(seconds=30))
    alerts.check_queue_backlog()
    (alert,) = open_alerts("queue_backlog")
    assert alert.dedupe_key == "queue_backlog:-:high"
    assert "high queue has waited 4" in alert.message
    alerts.check_queue_backlog()
    assert open_alerts("queue_backlog")[0].count == 2  # still there: bumped, not duplicated
    get_queue(HIGH).empty()
    alerts.check_queue_backlog()
    assert open_alerts("queue_backlog") == []
    assert db.session.query(Alert).one().resolved_at is not None


def test_a_low_queue_backlog_is_expected_and_not_an_alert(app):
    queued_job(LOW, timedelta(hours=2))  # full syncs wait there by design
    alerts.check_queue_backlog()
    assert open_alerts("queue_backlog") == []


def test_the_threshold_comes_from_the_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "ALERT_QUEUE_BACKLOG_SECONDS", 10)
    queued_job(DEFAULT, timedelta(seconds=30))
    alerts.check_queue_backlog()
    assert [a.dedupe_key for a in open_alerts("queue_backlog")] == ["queue_backlog:-:default"]


def test_a_product_failing_five_times_opens_one_alert_resolved_when_it_syncs(app):
    merchant = add_merchant("store1")
    stubborn = add_failed(merchant, 1, attempts=5, name="Garden stone")
    add_failed(merchant, 2, attempts=4)
    alerts.check_failing_products()
    alerts.check_failing_products()
    (alert,) = open_alerts("product_failing")
    assert alert.dedupe_key == f"product_failing:{merchant.id}:{stubborn.id}"
    assert alert.merchant_id == merchant.id and alert.count == 1
    assert "Garden stone (store1) failed 5 times" in alert.message
    assert "2 stone" in alert.message
    stubborn.sync_state = SyncState.SYNCED.value
    db.session.commit()
    alerts.check_failing_products()
    assert open_alerts("product_failing") == []


def test_a_failing_product_alert_reopens_when_it_fails_again(app):
    merchant = add_merchant("store1")
    binding = add_failed(merchant, 1, attempts=6)
    alerts.check_failing_products()
    binding.sync_state = SyncState.SYNCED.value
    db.session.commit()
    alerts.check_failing_products()
    binding.sync_state, binding.attempts = SyncState.FAILED.value, 7
    db.session.commit()
    alerts.check_failing_products()
    (alert,) = open_alerts("product_failing")
    assert "failed 7 times" in alert.message
    assert db.session.query(Alert).count() == 1


def test_open_alerts_are_on_the_dashboard(app, as_role):
    merchant = add_merchant("store1")
    add_failed(merchant, 1, attempts=5, name="Garden stone")
    alerts.check_failing_products()
    page = as_role("viewer").get("/admin/").get_data(as_text=True)
    assert "Garden stone (store1) failed 5 times" in page
