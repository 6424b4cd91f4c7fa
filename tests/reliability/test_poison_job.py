"""T25: a job that always fails runs exactly max+1 times, then lands in FailedJobRegistry.

The default Retry is portal.queue's (max 5, intervals 10/30/60/120/300 s, ~9 min): its
schedule is asserted as recorded on the RQ job; the real-worker run uses the same max with
1 s intervals (``JOB_RETRY_SECONDS`` set in this process's app, where the job is enqueued).
"""

from __future__ import annotations

import time

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord
from portal.queue import HIGH, enqueue, get_queue, redis_conn
from tests.conftest import wait_for

POISON = "worker.jobs.diagnostics_fail"


def record(job_id: str) -> JobRecord:
    db.session.expire_all()
    return db.session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))


def test_t25_default_retry_schedule_is_recorded_on_the_job(app):
    rec = enqueue(POISON, "poison", queue=HIGH, job_id="poison-default")
    job = Job.fetch(rec.job_id, connection=redis_conn(), serializer=JSONSerializer)
    assert job.retries_left == 5
    assert job.retry_intervals == [10, 30, 60, 120, 300]
    assert job.timeout == 120  # the high queue's job timeout
    job.cancel()


def test_t25_poison_job_runs_max_plus_one_times_then_fails_for_good(
    app, worker_process, monkeypatch
):
    retries = len(app.config["JOB_RETRY_SECONDS"])
    monkeypatch.setitem(app.config, "JOB_RETRY_SECONDS", [1] * retries)
    worker_process("--no-ticker")
    started = time.monotonic()
    rec = enqueue(POISON, "poison", queue=HIGH, job_id="poison-1")
    # Healthy jobs enqueued meanwhile are not held up by the poison job's retries.
    echoes = [
        enqueue("worker.jobs.diagnostics_echo", f"ok{n}", queue=HIGH, job_id=f"echo-{n}")
        for n in range(5)
    ]
    failed = FailedJobRegistry(queue=get_queue(HIGH))
    wait_for(lambda: rec.job_id in failed.get_job_ids(), timeout=60, interval=0.2)
    elapsed = time.monotonic() - started
    time.sleep(2.5)  # longer than one retry interval: no further attempt may follow
    row = record(rec.job_id)
    job = Job.fetch(rec.job_id, connection=redis_conn(), serializer=JSONSerializer)
    echo_states = [record(e.job_id).state for e in echoes]
    print(
        f"\nT25: poison job: {row.attempts} attempts in {elapsed:.1f}s, then FailedJobRegistry; "
        f"row {row.state!r} ({row.error}); retries_left {job.retries_left}; healthy jobs "
        f"{echo_states}"
    )
    assert row.attempts == retries + 1
    assert row.state == "failed" and "RuntimeError: poison" in (row.error or "")
    assert row.finished_at is not None
    assert job.retries_left == 0
    assert job.get_status() == "failed"
    assert echo_states == ["finished"] * 5
