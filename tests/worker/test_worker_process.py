"""A real ``python -m worker`` against real Redis: jobs finish, failures are recorded."""

from __future__ import annotations

from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from portal.extensions import db
from portal.models import JobRecord
from portal.queue import DEFAULT, enqueue, get_queue
from tests.conftest import wait_for


def _row(job_id: str) -> JobRecord:
    db.session.expire_all()
    return db.session.query(JobRecord).filter_by(job_id=job_id).one()


def test_real_worker_finishes_a_job_and_records_a_failure(app, worker_process):
    ok = enqueue("worker.jobs.diagnostics_echo", "hello", job_id="diag-ok-1")
    bad = enqueue(
        "worker.jobs.diagnostics_fail", "boom on purpose", job_id="diag-fail-1", retry=False
    )
    assert _row("diag-ok-1").state == "queued"  # the row is committed before the job runs

    worker_process("--no-ticker")

    wait_for(lambda: _row(ok.job_id).state == "finished", timeout=30)
    failed = wait_for(lambda: _row(bad.job_id).state == "failed" and _row(bad.job_id), timeout=30)
    assert "RuntimeError: boom on purpose" in failed.error
    registry = FailedJobRegistry(queue=get_queue(DEFAULT))
    wait_for(lambda: bad.job_id in registry.get_job_ids(), timeout=10)
    assert ok.job_id not in registry.get_job_ids()


def test_enqueue_coalesces_a_job_id_that_is_still_queued(app):
    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="same-id")
    second = enqueue("worker.jobs.diagnostics_echo", "b", job_id="same-id")
    assert first.id == second.id
    assert len(get_queue(DEFAULT).get_job_ids()) == 1


def test_enqueue_refuses_paths_outside_worker(app):
    import pytest

    with pytest.raises(ValueError):
        enqueue("os.system", "true")


def test_worker_refuses_a_redis_that_evicts_keys(redis_conn):
    from worker.__main__ import RedisConfigError, check_redis

    class FakeConfig:
        def config_get(self, _):
            return {"maxmemory-policy": "allkeys-lru"}

    import pytest

    with pytest.raises(RedisConfigError, match="noeviction"):
        check_redis(FakeConfig())
    check_redis(redis_conn)  # the real one is configured safely


def test_enqueue_never_overwrites_a_running_job(app):
    from rq.job import JobStatus

    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="busy-id")
    import time

    from rq.registry import StartedJobRegistry

    queue = get_queue(DEFAULT)
    job = queue.fetch_job("busy-id")
    # As a worker does when it picks the job up: status, out of the queue, an execution entry.
    job.set_status(JobStatus.STARTED)
    queue.remove("busy-id")
    registry = StartedJobRegistry(queue=queue)
    queue.connection.zadd(registry.key, {"busy-id:execution-1": time.time() + 300})
    assert "busy-id" in registry
    follow_up = enqueue("worker.jobs.diagnostics_echo", "b", job_id="busy-id")
    again = enqueue("worker.jobs.diagnostics_echo", "c", job_id="busy-id")
    assert follow_up.job_id == "busy-id--next" != first.job_id
    assert again.id == follow_up.id  # the follow-up run is itself coalesced
    assert get_queue(DEFAULT).fetch_job("busy-id").args == ["a"]


def test_concurrent_enqueues_of_one_job_id_coalesce(app):
    """Two copies of one event handled at once: one tracking row, one queued job, no error."""
    import threading

    errors: list[BaseException] = []

    def enqueue_in_own_context():
        try:
            with app.app_context():
                enqueue("worker.jobs.diagnostics_echo", "x", job_id="raced-id")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=enqueue_in_own_context) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    assert db.session.query(JobRecord).filter_by(job_id="raced-id").count() == 1
    assert get_queue(DEFAULT).get_job_ids().count("raced-id") >= 1


def test_jobs_that_redis_lost_are_re_sent_once(app, redis_conn):
    """After a FLUSHALL (or a restart without persistence) tracked jobs are sent again."""
    from datetime import timedelta

    from portal.models import utcnow
    from worker.periodic import relay_lost_jobs

    lost = enqueue("worker.jobs.diagnostics_echo", "lost", job_id="lost-1")
    kept = enqueue("worker.jobs.diagnostics_echo", "kept", job_id="kept-1")
    redis_conn.delete("rq:job:lost-1")  # as FLUSHALL would, for this one job only
    get_queue(DEFAULT).remove("lost-1")
    old = utcnow() - timedelta(minutes=5)
    for record in (lost, kept):
        db.session.query(JobRecord).filter_by(id=record.id).update({"updated_at": old})
    db.session.commit()

    relay_lost_jobs()
    relay_lost_jobs()  # the re-sent row is fresh again: not sent twice

    ids = get_queue(DEFAULT).get_job_ids()
    assert ids.count("lost-1") == 1 and ids.count("kept-1") == 1
    db.session.expire_all()
    assert "no longer in Redis" in db.session.get(JobRecord, lost.id).error
    assert db.session.get(JobRecord, kept.id).error is None


def test_a_phantom_queued_job_is_not_coalesced_and_is_re_sent(app, redis_conn):
    """A Redis crash can keep a job's hash ("queued") but lose its place in the queue list:
    such a job would never run, so it must not swallow new enqueues or stop the relay."""
    from datetime import timedelta

    from portal.models import utcnow
    from portal.queue import live_status
    from worker.periodic import relay_lost_jobs

    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="phantom-1")
    get_queue(DEFAULT).remove("phantom-1")  # the hash stays, the queue entry is gone
    assert live_status("phantom-1") is None

    again = enqueue("worker.jobs.diagnostics_echo", "b", job_id="phantom-1")
    assert again.id == first.id
    assert get_queue(DEFAULT).get_job_ids().count("phantom-1") == 1  # sent again, once

    get_queue(DEFAULT).remove("phantom-1")
    db.session.query(JobRecord).filter_by(id=first.id).update(
        {"updated_at": utcnow() - timedelta(minutes=5)}
    )
    db.session.commit()
    relay_lost_jobs()
    assert get_queue(DEFAULT).get_job_ids().count("phantom-1") == 1


def test_a_job_for_a_merchant_that_stopped_syncing_is_recorded_as_skipped(app, worker_process):
    """Paused (or uninstalled) after the job was queued: nothing to do, no retry, a clear row."""
    from portal.models import Merchant

    merchant = Merchant(store_hash="paused1", state="paused")
    db.session.add(merchant)
    db.session.commit()
    record = enqueue("worker.jobs.stock.push_stock", merchant.id, [1], job_id="skip-me")

    worker_process("--burst")

    row = wait_for(lambda: _row(record.job_id).state == "skipped" and _row(record.job_id))
    assert "paused" in row.error
    assert row.finished_at is not None
    registry = FailedJobRegistry(queue=get_queue(DEFAULT))
    assert record.job_id not in registry.get_job_ids()


def test_the_worker_runs_the_prompt_scheduler(app, monkeypatch):
    from rq.scheduler import RQScheduler

    from worker.__main__ import PromptScheduler, StoppableWorker

    started: list[RQScheduler] = []
    monkeypatch.setattr(RQScheduler, "start", lambda self: started.append(self))
    queue = get_queue(DEFAULT)
    worker = StoppableWorker([queue], connection=queue.connection)
    worker._start_scheduler()
    worker.scheduler.release_locks()
    assert [type(s) for s in started] == [PromptScheduler]


def test_a_delayed_job_is_moved_to_its_queue_and_run_by_a_real_worker(app, worker_process):
    enqueue("worker.jobs.diagnostics_echo", "later", job_id="diag-later-1", delay=0.3)
    assert _row("diag-later-1").state == "queued"
    assert "diag-later-1" in ScheduledJobRegistry(queue=get_queue(DEFAULT)).get_job_ids()
    worker_process("--no-ticker")
    wait_for(lambda: _row("diag-later-1").state == "finished", timeout=30)
