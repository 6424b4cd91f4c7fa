"""RQ wiring: queues, the JSON serializer, timeouts and retries, and enqueue-by-dotted-path.

The portal never imports ``worker``: it enqueues ``"worker.jobs.<name>"`` by path. The tracking
row (JobRecord) is committed before the job is enqueued, so a fast worker always finds it.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import JobRecord

log = logging.getLogger(__name__)

HIGH, DEFAULT, LOW = "high", "default", "low"
QUEUE_NAMES = (HIGH, DEFAULT, LOW)
# Full syncs may run long; webhook and order jobs must not.
TIMEOUTS = {HIGH: 120, DEFAULT: 300, LOW: 3600}
DEFAULT_RETRY_INTERVALS = [10, 30, 60, 120, 300]
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def redis_conn() -> Redis:
    """The app's Redis connection (made lazily, never at import)."""
    ext = current_app.extensions
    if "redis" not in ext:
        ext["redis"] = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
        )
    return ext["redis"]


def queue_name(name: str) -> str:
    return f"{current_app.config.get('RQ_QUEUE_PREFIX', '')}{name}"


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


# An inbox row's processing job: the row itself is its tracking row (no JobRecord).
EVENT_JOB = "worker.jobs.inbox.process_event"


def event_job_id(event_id: int) -> str:
    return make_job_id("evt", event_id)


def put_event_job(
    event_id: int, *, dispatch: bool = False, pipeline: Pipeline | None = None
) -> None:
    """Put inbox row ``event_id``'s processing job on the high queue (see ``put_on_queue``).

    ``dispatch``: the job first queues the jobs of rows stored since (worker/inbox.py).
    """
    args = (event_id, True) if dispatch else (event_id,)
    put_on_queue(EVENT_JOB, *args, queue=HIGH, job_id=event_job_id(event_id), pipeline=pipeline)


def inbox_dispatch_key() -> str:
    """While this Redis key exists, a queued inbox job that has not started will dispatch."""
    return f"{current_app.config.get('RQ_QUEUE_PREFIX', '')}bindo:inbox:dispatch-pending"


def make_job_id(*parts: Any) -> str:
    """A deterministic job id from parts, within RQ's allowed characters."""
    job_id = "-".join(re.sub(r"[^A-Za-z0-9_]", "_", str(p)) for p in parts)
    if not JOB_ID_RE.match(job_id):
        raise ValueError(f"job id not allowed: {job_id!r}")
    return job_id


PENDING = {"queued", "scheduled", "deferred"}


def live_status(job_id: str) -> str | None:
    """The job's status if it can still run or is running, else None (missing, finished,
    failed, or a phantom: a job hash that says "queued" but sits in no queue or registry, as
    a Redis restart can leave behind when the last writes before a crash were not on disk)."""
    conn = redis_conn()
    try:
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except RedisError:
        raise
    except Exception:  # noqa: BLE001 - missing or unreadable job: not live
        return None
    status = job.get_status(refresh=False)
    status = getattr(status, "value", status)
    queue = Queue(job.origin, connection=conn, serializer=JSONSerializer)
    if status == "queued":
        live = queue.get_job_position(job_id) is not None
    elif status == "scheduled":
        live = job_id in ScheduledJobRegistry(queue=queue)
    elif status == "started":
        live = job_id in StartedJobRegistry(queue=queue)
    elif status == "deferred":
        live = job_id in DeferredJobRegistry(queue=queue)
    else:
        live = False
    return status if live else None


def _pending(job_id: str) -> str | None:
    """``live_status`` for coalescing; Redis down means nothing is pending (``send`` notes it)."""
    try:
        return live_status(job_id)
    except RedisError:
        return None


def enqueue(
    func: str,
    *args: Any,
    queue: str = DEFAULT,
    job_id: str | None = None,
    merchant_id: int | None = None,
    retry: Retry | None | bool = True,
    delay: float | None = None,
    at_front: bool = False,
) -> JobRecord:
    """Record then enqueue ``func`` (a dotted path under ``worker.``) with JSON-safe args.

    A job id still queued is coalesced (returned as is). If Redis is unreachable the row stays
    'queued' with the error noted, and the worker's relay re-enqueues it later: nothing is lost.
    """
    if not func.startswith("worker."):
        raise ValueError("jobs are enqueued by dotted path under worker.")
    if job_id is None:
        import uuid

        job_id = make_job_id(func.rsplit(".", 1)[-1], uuid.uuid4().hex)
    status = _pending(job_id)
    if status == "started":
        # Never overwrite a running job: queue one follow-up run (itself coalesced), since the
        # running one may have read its data before the change that asks for this run.
        job_id = f"{job_id}--next"[:120]
        status = _pending(job_id)
    # The caller's pending changes are committed on their own first, so that losing the race
    # below (rollback) can never discard them.
    db.session.commit()
    record = db.session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))
    if record is None:
        try:
            record = JobRecord(job_id=job_id, func=func, queue=queue)
            db.session.add(record)
            db.session.commit()
        except IntegrityError:
            # The same job id was enqueued concurrently (a duplicate delivery): coalesce.
            db.session.rollback()
            record = db.session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))
            status = _pending(job_id)
    if record is not None and status in PENDING:
        return record
    record.args = list(args)
    record.queue = queue
    record.merchant_id = merchant_id
    record.state = "queued"
    record.error = None
    db.session.commit()
    return send(record, retry=retry, delay=delay, at_front=at_front)


def put_on_queue(
    func: str,
    *args: Any,
    queue: str,
    job_id: str,
    retry: Retry | None | bool = True,
    delay: float | None = None,
    at_front: bool = False,
    pipeline: Pipeline | None = None,
) -> None:
    """Put one job on its RQ queue (raises RedisError when Redis is down).

    Callers track the job themselves: ``send`` with a JobRecord, or the webhook inbox, whose
    event row is the tracking row (and which the relay re-enqueues when this fails). With
    ``pipeline`` the job's commands are added to it and the caller executes it.
    """
    if retry is True:
        retry = Retry(max=len(DEFAULT_RETRY_INTERVALS), interval=DEFAULT_RETRY_INTERVALS)
    elif retry is False:
        retry = None
    q = get_queue(queue)
    kwargs: dict[str, Any] = {
        "job_id": job_id,
        "retry": retry,
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
        "description": func,
    }
    if delay:
        if pipeline is not None:
            raise ValueError("a delayed job is not written through a caller's pipeline")
        q.enqueue_in(timedelta(seconds=delay), func, *args, **kwargs)
        return
    if pipeline is not None:
        q.enqueue(func, *args, at_front=at_front, pipeline=pipeline, **kwargs)
        return
    # One round trip (RQ's own enqueue executes two pipelines), and no MULTI/EXEC: the commands
    # still run in order on one connection, and a job cut off half-written is one the relays
    # re-send (its tracking row says it was never seen running).
    with q.connection.pipeline(transaction=False) as pipe:
        q.enqueue(func, *args, at_front=at_front, pipeline=pipe, **kwargs)
        pipe.execute()


def send(
    record: JobRecord,
    *,
    retry: Retry | None | bool = True,
    delay: float | None = None,
    at_front: bool = False,
) -> JobRecord:
    """Put a committed JobRecord on its RQ queue."""
    try:
        put_on_queue(
            record.func,
            *record.args,
            queue=record.queue,
            job_id=record.job_id,
            retry=retry,
            delay=delay,
            at_front=at_front,
        )
    except RedisError as exc:
        log.warning("redis unavailable, job %s kept for the relay: %s", record.job_id, exc)
        record.error = "not yet enqueued: Redis unavailable"
        db.session.commit()
    return record
