"""RQ wiring: the Redis connection, queues, enqueue-by-dotted-path and coalescing.

The portal never imports ``worker``: it enqueues ``"worker.jobs.<name>"`` by path. Jobs go
through RQ as it ships (its Retry, its scheduler for delayed jobs). Two kinds of job:

- ``enqueue``: a job with a JobRecord row (staff-visible tracking, committed before the job
  reaches Redis). A ``job_id`` names the logical job: while a run of it waits in its queue (or
  is scheduled), another enqueue of it is merged into that run (a Redis flag, written in one
  transaction with the run). The run clears the flag as it starts (worker/runtime.py
  ``tracked``), so a change made during a run queues exactly one follow-up run. Each run has
  its own RQ id (``<job_id>-<n>``), so a follow-up never overwrites a running job.
- ``put_event_job``: an inbox row's processing job, queued by the relay (worker/inbox.py); the
  row is its record and its dedupe authority.

Redis down: ``enqueue`` raises ``RedisError`` (nothing is queued silently for later). In a job
the failure surfaces and the job or its inbox row is retried; in the admin the page says so.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord

log = logging.getLogger(__name__)
HIGH, DEFAULT, LOW = "high", "default", "low"
QUEUE_NAMES = (HIGH, DEFAULT, LOW)
# Catalog steps are short (issue 14); webhook and order jobs must be shorter still.
TIMEOUTS = {HIGH: 120, DEFAULT: 300, LOW: 3600}
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,120}$")
# How long a queued run's flag lives: a backlog older than this gets one extra run (harmless).
COALESCE_SECONDS = 300
EVENT_JOB = "worker.jobs.inbox.process_event"


def connect(url: str) -> Redis:
    """The one Redis connection factory: every connection fails fast instead of hanging.

    RQ's worker raises the socket timeout of its own connection above its blocking dequeue.
    """
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def redis_conn() -> Redis:
    """The app's Redis connection (made lazily, never at import)."""
    ext = current_app.extensions
    if "redis" not in ext:
        ext["redis"] = connect(current_app.config["REDIS_URL"])
    return ext["redis"]


def prefix() -> str:
    return str(current_app.config["RQ_QUEUE_PREFIX"])


def queue_name(name: str) -> str:
    return f"{prefix()}{name}"


def get_queue(name: str = DEFAULT) -> Queue:
    """The app's queue ``name``, built once per Redis connection (RQ's constructor is costly)."""
    conn = redis_conn()
    cache = current_app.extensions.setdefault("rq_queues", {})
    cached = cache.get(name)
    if cached is None or cached.connection is not conn:
        cached = cache[name] = Queue(
            queue_name(name),
            connection=conn,
            serializer=JSONSerializer,
            default_timeout=TIMEOUTS[name],
        )
    return cached


def make_job_id(*parts: Any) -> str:
    """A deterministic job id from parts, within RQ's allowed characters."""
    job_id = "-".join(re.sub(r"[^A-Za-z0-9_]", "_", str(p)) for p in parts)
    if not JOB_ID_RE.match(job_id):
        raise ValueError(f"job id not allowed: {job_id!r}")
    return job_id


def event_job_id(event_id: int) -> str:
    return make_job_id("evt", event_id)


def put_event_job(event_id: int, *, pipeline: Pipeline | None = None) -> None:
    """Put inbox row ``event_id``'s processing job on the high queue (id ``evt-<id>``)."""
    put_on_queue(EVENT_JOB, event_id, queue=HIGH, job_id=event_job_id(event_id), pipeline=pipeline)


def put_on_queue(
    func: str,
    *args: Any,
    queue: str,
    job_id: str,
    retry: Retry | None | bool = True,
    delay: float | None = None,
    meta: dict[str, Any] | None = None,
    pipeline: Pipeline | None = None,
) -> None:
    """Put one job on its RQ queue (raises RedisError when Redis is down).

    A ``delay`` of 1 s or more goes through RQ's scheduler (``enqueue_in``); a shorter one
    runs now. With ``pipeline`` the caller executes the commands (one round trip for many).
    """
    if retry is True:
        intervals = list(current_app.config["JOB_RETRY_SECONDS"])
        retry = Retry(max=len(intervals), interval=intervals)
    q = get_queue(queue)
    kwargs: dict[str, Any] = {
        "job_id": job_id,
        "retry": retry or None,
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
        "description": func,
        "meta": meta,
    }
    if delay is not None and delay >= 1:
        q.enqueue_in(timedelta(seconds=delay), func, *args, pipeline=pipeline, **kwargs)
    elif pipeline is not None:
        q.enqueue(func, *args, pipeline=pipeline, **kwargs)
    else:
        with q.connection.pipeline(transaction=False) as pipe:
            q.enqueue(func, *args, pipeline=pipe, **kwargs)
            pipe.execute()


def flag_key(job_id: str) -> str:
    """While this key exists, a run of ``job_id`` is queued and has not started."""
    return f"{prefix()}bindo:queued:{job_id}"


def enqueue(
    func: str,
    *args: Any,
    queue: str = DEFAULT,
    job_id: str | None = None,
    merchant_id: int | None = None,
    retry: Retry | None | bool = True,
    delay: float | None = None,
    track: bool = True,
) -> JobRecord | None:
    """Record then enqueue ``func`` (a dotted path under ``worker.``) with JSON-safe args.

    Returns the run's JobRecord: a new one, or the queued run this call was merged into
    (None with ``track=False``: no JobRecord, as for the clock's tick; or if that run's flag
    outlived its record).
    """
    if not func.startswith("worker."):
        raise ValueError("jobs are enqueued by dotted path under worker.")
    job_id = job_id or make_job_id(func.rsplit(".", 1)[-1], uuid.uuid4().hex)
    run_id = f"{job_id[:111]}-{uuid.uuid4().hex[:8]}"
    record = None
    if track:  # committed before the run is queued, so whoever finds the run finds its record
        record = JobRecord(
            job_id=run_id, func=func, queue=queue, args=list(args), merchant_id=merchant_id
        )
        db.session.add(record)
    db.session.commit()  # with the caller's pending changes
    try:
        waiting = _put_flagged(func, args, queue, flag_key(job_id), run_id, retry, delay)
    except Exception as exc:
        db.session.rollback()
        if record is not None:
            record.state = "failed"
            record.error = f"not queued: {type(exc).__name__}: {exc}"[:2000]
            db.session.commit()
        raise
    if waiting is None or record is None:
        return record
    db.session.delete(record)  # merged into the waiting run
    db.session.commit()
    return db.session.scalar(select(JobRecord).where(JobRecord.job_id == waiting))


def _put_flagged(
    func: str, args: tuple[Any, ...], queue: str, flag: str, run_id: str,
    retry: Retry | None | bool, delay: float | None,
) -> str | None:  # fmt: skip
    """Queue ``run_id`` as the flagged run of its job id, unless a run of it waits: then
    return that run's id (the caller merges into it) and queue nothing.

    The flag and its run are written in one transaction (WATCH on the flag), so a flag never
    names a run that is not yet queued. A run that waits is one in its queue or scheduled. A
    flagged run that is neither will not start soon, and merging into it would strand the
    change, so its flag is taken over. That happens when Redis dies as a worker pops the run:
    RQ leaves it in its intermediate list, still "queued", with its flag set, until a
    maintenance pass fails it a minute or more later (T20). A run popped a moment ago and
    about to start also counts as not waiting: the new run is then one extra run, harmless.
    """
    rq_queue = get_queue(queue)
    with redis_conn().pipeline() as pipe:
        while True:
            try:
                pipe.watch(flag)
                held = pipe.get(flag)
                if held is not None:
                    held_id = held.decode()
                    if (
                        rq_queue.get_job_position(held_id) is not None
                        or held_id in rq_queue.scheduled_job_registry
                    ):
                        return held_id
                    log.info("run %s is not waiting: %s queued in its place", held_id, run_id)
                pipe.multi()
                pipe.set(flag, run_id, ex=COALESCE_SECONDS)
                put_on_queue(func, *args, queue=queue, job_id=run_id, retry=retry, delay=delay,
                             meta={"flag": flag}, pipeline=pipe)  # fmt: skip
                pipe.execute()
                return None
            except WatchError:  # the flag changed meanwhile: look again
                continue


def requeue(job, delay: float, run_id: str) -> tuple[str, bool]:
    """Queue again as ``run_id``, in ``delay`` seconds, the call of a coalesced run that gives
    its worker up (worker/runtime.py ``defer``): the new run takes its job id's flag, so
    requests made meanwhile merge into it. Returns (``run_id``, True); or, when a run of that
    job id is already waiting (it does this run's work: runs of one job id are
    interchangeable), (that run's id, False) and nothing is queued.
    """
    short = job.origin[len(prefix()) :]
    waiting = _put_flagged(job.func_name, job.args, short, job.meta["flag"], run_id, True, delay)
    return (run_id, True) if waiting is None else (waiting, False)


def clear_flag(job) -> None:
    """Called as a run starts: later enqueues of its job id queue a new run."""
    flag = (job.meta or {}).get("flag")
    if flag and job.connection.get(flag) == job.id.encode():
        job.connection.delete(flag)
