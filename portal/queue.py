"""RQ wiring: the Redis connection, queues, enqueue-by-dotted-path and coalescing.

The portal never imports ``worker``: it enqueues ``"worker.jobs.<name>"`` by path. Jobs go
through RQ as it ships (its Retry, its scheduler for delayed jobs). Two kinds of job:

- ``enqueue``: a job with a JobRecord row (staff-visible tracking, committed before the job
  reaches Redis). A ``job_id`` names the logical job: while a run of it waits in its queue (or
  is scheduled), another enqueue of it is merged into that run (a Redis flag, ``SET NX``). The run
  clears the flag as it starts (worker/runtime.py ``tracked``), so a change made during a run
  queues exactly one follow-up run. Each run has its own RQ id (``<job_id>-<n>``), so a
  follow-up never overwrites a running job.
- ``put_event_job``: an inbox row's processing job, queued by the relay (worker/inbox.py); the
  row is its record and its dedupe authority.

Redis down: ``enqueue`` raises ``RedisError`` (nothing is queued silently for later). In a job
the failure surfaces and the job or its inbox row is retried; in the admin the page says so.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
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
    conn, flag = redis_conn(), flag_key(job_id)
    record = None
    if track:  # committed before the flag, so whoever finds the flag finds its record
        record = JobRecord(
            job_id=run_id, func=func, queue=queue, args=list(args), merchant_id=merchant_id
        )
        db.session.add(record)
    db.session.commit()  # with the caller's pending changes
    won = False
    try:
        won = _take_flag(conn, flag, queue, run_id)
        if won:
            meta = {"flag": flag}
            put_on_queue(
                func, *args, queue=queue, job_id=run_id, retry=retry, delay=delay, meta=meta
            )
    except Exception as exc:
        db.session.rollback()
        if record is not None:
            record.state = "failed"
            record.error = f"not queued: {type(exc).__name__}: {exc}"[:2000]
            db.session.commit()
        if won:
            with contextlib.suppress(RedisError):
                conn.delete(flag)  # the next enqueue tries again
        raise
    if won or record is None:
        return record
    db.session.delete(record)  # merged into the queued run
    db.session.commit()
    queued = (conn.get(flag) or b"").decode()
    return db.session.scalar(select(JobRecord).where(JobRecord.job_id == queued))


_SWAP = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return false
"""


def swap(conn: Redis, key: str, expected: str, new: str, ttl: int) -> bool:
    """Set ``key`` to ``new`` (expiring in ``ttl`` s) only if it still holds ``expected``,
    atomically: how a stale flag or a dead job's lock (worker/sync/locks.py) changes hands."""
    return bool(conn.eval(_SWAP, 1, key, expected, new, ttl))


def _take_flag(conn: Redis, flag: str, queue: str, run_id: str) -> bool:
    """Make ``run_id`` the queued run of the flag's job id: True unless a run of it waits.

    A run that waits is one in its queue or scheduled. A flagged run that is neither will not
    start soon, so merging into it would strand the change; its flag is taken over. It happens
    when Redis dies as a worker pops the run: the run is left in RQ's intermediate list, still
    "queued", with its flag set, until an RQ maintenance pass fails it a minute or more later
    (T20). A run popped a moment ago, about to start, also counts as stale: the new run is
    then one extra run, which is harmless. The flag changes hands only if it still names the
    run we checked.
    """
    if conn.set(flag, run_id, nx=True, ex=COALESCE_SECONDS):
        return True
    held = conn.get(flag)
    if held is None:  # cleared or expired in between
        return bool(conn.set(flag, run_id, nx=True, ex=COALESCE_SECONDS))
    held_id = held.decode()
    rq_queue = get_queue(queue)
    if rq_queue.get_job_position(held_id) is not None or held_id in rq_queue.scheduled_job_registry:
        return False
    taken = swap(conn, flag, held_id, run_id, COALESCE_SECONDS)
    if taken:
        log.info("run %s is not waiting in its queue: %s queued in its place", held_id, run_id)
    return taken


def requeue(job, delay: float, run_id: str) -> tuple[str, bool]:
    """Queue again as ``run_id``, in ``delay`` seconds, the call of a coalesced run that gives
    its worker up (worker/runtime.py ``defer``): the new run takes its job id's flag, so
    requests made meanwhile merge into it. Returns (``run_id``, True); or, when a run of that
    job id is already waiting (it does this run's work: runs of one job id are
    interchangeable), (that run's id, False) and nothing is queued.
    """
    flag = job.meta["flag"]
    short = job.origin[len(prefix()) :]
    conn = redis_conn()
    if _take_flag(conn, flag, short, run_id):
        put_on_queue(
            job.func_name, *job.args, queue=short, job_id=run_id, delay=delay, meta={"flag": flag}
        )
        return run_id, True
    return (conn.get(flag) or b"").decode(), False


def clear_flag(job) -> None:
    """Called as a run starts: later enqueues of its job id queue a new run."""
    flag = (job.meta or {}).get("flag")
    if flag and job.connection.get(flag) == job.id.encode():
        job.connection.delete(flag)
