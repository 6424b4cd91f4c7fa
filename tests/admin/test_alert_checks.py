"""The periodic alert checks of worker/alerts.py: a queue backlog, and products that keep
failing (one alert per merchant and error kind); both open one alert, never bump it on every
tick, and resolve once cleared."""

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


def test_products_failing_for_one_cause_open_one_alert_per_merchant_and_kind(app):
    merchant = add_merchant("store1", store_name="Demo Outdoor Co")
    for bindo_id in range(1, 14):  # 13 products, one cause: one alert, not 13
        add_failed(merchant, bindo_id, name=f"Stone {bindo_id}")
    add_failed(merchant, 50, error_code="bc_rejected", error_retryable=True, attempts=5)
    add_failed(merchant, 51, error_code="timeout", error_retryable=True, attempts=4)
    other = add_merchant("store2")
    add_failed(other, 1)
    alerts.check_failing_products()
    alerts.check_failing_products()
    found = {a.dedupe_key: a for a in open_alerts("product_failing")}
    assert set(found) == {
        f"product_failing:{merchant.id}:weight_unreadable",
        f"product_failing:{merchant.id}:bc_rejected",
        f"product_failing:{other.id}:weight_unreadable",
    }  # a retryable error below 5 attempts is not an alert yet
    weight = found[f"product_failing:{merchant.id}:weight_unreadable"]
    assert weight.count == 13
    assert weight.message.startswith("13 products of Demo Outdoor Co (store1) fail with ")
    assert "since " in weight.message and "2 stone" in weight.message


def test_a_kind_alert_follows_its_products_and_resolves_when_none_fails(app):
    merchant = add_merchant("store1")
    first = add_failed(merchant, 1)
    second = add_failed(merchant, 2)
    alerts.check_failing_products()
    first.sync_state = SyncState.SYNCED.value
    db.session.commit()
    alerts.check_failing_products()
    (alert,) = open_alerts("product_failing")
    assert alert.count == 1 and alert.message.startswith(
        "1 product of Store store1 (store1) fails with"
    )
    second.sync_state = SyncState.SYNCED.value
    db.session.commit()
    alerts.check_failing_products()
    assert open_alerts("product_failing") == []
    second.sync_state = SyncState.FAILED.value
    db.session.commit()
    alerts.check_failing_products()
    assert len(open_alerts("product_failing")) == 1
    assert db.session.query(Alert).count() == 1  # reopened, not duplicated


def test_open_alerts_are_on_the_dashboard(app, as_role):
    merchant = add_merchant("store1")
    add_failed(merchant, 1, attempts=5, name="Garden stone")
    alerts.check_failing_products()
    page = as_role("viewer").get("/admin/").get_data(as_text=True)
    assert "1 product of Store store1 (store1) fails with weight_unreadable" in page
