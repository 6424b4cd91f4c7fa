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
    assert _row(ok.job_id).state == "queued"  # the row is committed before the job runs

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


def test_a_delayed_run_still_waiting_takes_the_merge(app):
    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="later-id", delay=30)
    second = enqueue("worker.jobs.diagnostics_echo", "b", job_id="later-id")
    assert first.id == second.id
    assert ScheduledJobRegistry(queue=get_queue(DEFAULT)).get_job_ids() == [first.job_id]


def test_a_run_stranded_by_a_redis_crash_does_not_swallow_later_enqueues(app):
    """Redis died as a worker popped the run: RQ left it in its intermediate list, "queued"
    and flagged, and nothing starts it for a minute or more (T20). A later enqueue of its job
    id must queue a run of its own instead of merging into the stranded one."""
    queue = get_queue(DEFAULT)
    stranded = enqueue("worker.jobs.diagnostics_echo", "a", job_id="stranded-id")
    conn = queue.connection
    assert conn.lmove(queue.key, queue.intermediate_queue_key) == stranded.job_id.encode()
    assert queue.fetch_job(stranded.job_id).get_status() == "queued"
    fresh = enqueue("worker.jobs.diagnostics_echo", "b", job_id="stranded-id")
    assert fresh.id != stranded.id
    assert queue.get_job_ids() == [fresh.job_id]
    # ... and the fresh run, waiting in the queue, takes the merges again.
    assert enqueue("worker.jobs.diagnostics_echo", "c", job_id="stranded-id").id == fresh.id
    # The stranded run, when RQ starts it after all, leaves the new run's flag alone.
    from portal.queue import clear_flag

    clear_flag(queue.fetch_job(stranded.job_id))
    assert enqueue("worker.jobs.diagnostics_echo", "d", job_id="stranded-id").id == fresh.id


def test_a_deferred_run_keeps_its_job_id_and_takes_the_merges(app):
    """A coalesced run that gives its worker up (quota spent) is queued again under its job
    id's flag: a request made meanwhile merges into it instead of queuing a second run."""
    from portal.queue import clear_flag
    from worker.clients.errors import QuotaSpent
    from worker.runtime import defer

    queue = get_queue(DEFAULT)
    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="quota-id")
    first_run = first.job_id
    job = queue.fetch_job(first_run)
    clear_flag(job)  # the run starts ...
    defer(job, QuotaSpent("quota spent", retry_after=30))  # ... and gives its worker up
    row = _row_by_id(first.id)
    assert row.state == "deferred" and row.job_id != first_run
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [row.job_id]
    assert queue.fetch_job(row.job_id).args == ["a"]
    assert enqueue("worker.jobs.diagnostics_echo", "b", job_id="quota-id").id == first.id


def test_a_deferred_run_whose_follow_up_is_queued_ends_there(app):
    from portal.queue import clear_flag
    from worker.clients.errors import QuotaSpent
    from worker.runtime import defer

    queue = get_queue(DEFAULT)
    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="follow-id")
    first_run = first.job_id
    job = queue.fetch_job(first_run)
    clear_flag(job)
    follow_up = enqueue("worker.jobs.diagnostics_echo", "b", job_id="follow-id").job_id
    defer(job, QuotaSpent("quota spent", retry_after=30))
    row = _row_by_id(first.id)
    assert row.state == "skipped" and follow_up in row.error
    assert ScheduledJobRegistry(queue=queue).count == 0
    assert queue.get_job_ids() == [first_run, follow_up]


def _row_by_id(record_id: int) -> JobRecord:
    db.session.expire_all()
    return db.session.get(JobRecord, record_id)


def test_enqueue_refuses_paths_outside_worker(app):
    import pytest

    with pytest.raises(ValueError):
        enqueue("os.system", "true")


def test_worker_refuses_a_redis_that_evicts_keys(redis_conn):
    from worker.__main__ import check_redis

    class FakeConfig:
        def config_get(self, _):
            return {"maxmemory-policy": "allkeys-lru"}

    assert "noeviction" in check_redis(FakeConfig())
    assert check_redis(redis_conn) is None  # the real one is configured safely


def test_a_change_during_a_run_queues_exactly_one_follow_up(app):
    """The run clears its job id's flag as it starts: later enqueues queue one new run (with
    its own RQ id, so the running job is never overwritten), and that run is coalesced too."""
    from portal.queue import clear_flag

    first = enqueue("worker.jobs.diagnostics_echo", "a", job_id="busy-id")
    queue = get_queue(DEFAULT)
    clear_flag(queue.fetch_job(first.job_id))  # what @tracked does as the run starts
    follow_up = enqueue("worker.jobs.diagnostics_echo", "b", job_id="busy-id")
    again = enqueue("worker.jobs.diagnostics_echo", "c", job_id="busy-id")
    assert follow_up.job_id != first.job_id
    assert again.id == follow_up.id
    assert queue.get_job_ids() == [first.job_id, follow_up.job_id]
    assert queue.fetch_job(first.job_id).args == ["a"]


def test_concurrent_enqueues_of_one_job_id_coalesce(app, monkeypatch):
    """Copies of one event handled at once: one tracking row, one queued job, no error.

    Queuing is slowed down so that the enqueues overlap: a flag set a moment before its run
    reached the queue let a concurrent enqueue take it over and queue a second run (before the
    flag and its run were written in one transaction); now the slower writers find the flag
    changed, look again and merge into the run that got there first."""
    import threading
    import time

    import portal.queue

    put_on_queue = portal.queue.put_on_queue

    def slow_put_on_queue(*args, **kwargs):
        time.sleep(0.05)
        put_on_queue(*args, **kwargs)

    monkeypatch.setattr(portal.queue, "put_on_queue", slow_put_on_queue)
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
    assert db.session.query(JobRecord).count() == 1
    assert len(get_queue(DEFAULT).get_job_ids()) == 1


def test_enqueue_with_redis_down_raises_and_records_it(app, monkeypatch):
    """No silent "later": a job (or its inbox row) is retried; staff see a 503 and retry."""
    import pytest
    from redis.exceptions import ConnectionError as RedisConnectionError

    from portal.queue import connect

    monkeypatch.setitem(app.extensions, "redis", connect("redis://127.0.0.1:1/0"))
    monkeypatch.setitem(app.extensions, "rq_queues", {})
    with pytest.raises(RedisConnectionError):
        enqueue("worker.jobs.diagnostics_echo", "x", job_id="no-redis")
    [row] = db.session.query(JobRecord).all()
    assert row.state == "failed" and row.error.startswith("not queued")


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


def test_a_delayed_job_goes_through_rqs_scheduler_and_runs(app, worker_process):
    record = enqueue("worker.jobs.diagnostics_echo", "later", job_id="diag-later-1", delay=1)
    assert _row(record.job_id).state == "queued"
    assert record.job_id in ScheduledJobRegistry(queue=get_queue(DEFAULT)).get_job_ids()
    worker_process("--no-ticker")
    wait_for(lambda: _row(record.job_id).state == "finished", timeout=30)


def test_a_sub_second_delay_runs_at_once(app):
    record = enqueue("worker.jobs.diagnostics_echo", "now", delay=0.3)
    assert get_queue(DEFAULT).get_job_ids() == [record.job_id]


def test_the_worker_prepares_its_heap_once_before_it_forks(app):
    # Every job module imported, the database connected and the job look-ups compiled, then
    # the heap frozen: a horse forked afterwards redoes none of it (docs/architecture.md).
    import subprocess
    import sys

    from tests.conftest import worker_env

    probe = (
        "import gc, sys\n"
        "from worker.__main__ import prepare_to_fork\n"
        "from portal.extensions import db\n"
        "from worker.runtime import get_app\n"
        "before = {m for m in sys.modules if m.startswith('worker.')}\n"
        "prepare_to_fork()\n"
        "after = {m for m in sys.modules if m.startswith('worker.')}\n"
        "with get_app().app_context():\n"
        "    print(db.engine.pool.checkedout(), gc.get_freeze_count() > 0)\n"
        "print(' '.join(sorted(after - before)))\n"
    )

    def run(**env: str) -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", probe],
            env=worker_env(app.config, **env),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.splitlines()

    out = run()
    assert out[-2] == "0 True"  # no connection kept for the horses to share; heap frozen
    loaded = set(out[-1].split())
    assert {"worker.jobs.catalog", "worker.jobs.stock", "worker.jobs.orders"} <= loaded
    assert {"worker.sync.catalog", "worker.alerts"} <= loaded
    # The database down at start: the worker still starts (its horses connect themselves).
    down = run(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert down[-2] == "0 True"
