"""Redis locks held by RQ jobs: a lock whose holder job is known dead is taken over at once.

A lock's value names the job holding it (``<job id>|<token>``). When a work horse is killed
(OOM, a deploy's SIGKILL, the job timeout) its locks stay in Redis until their TTL ends; a
later job that finds such a lock takes it over instead of waiting out the TTL. Locks are
released only by their owner (token check). Used per product (worker/sync/catalog/locks.py),
per store for stock pushes and per order for imports.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from redis import Redis
from rq import get_current_job
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

# RQ's worker refreshes a running job's heartbeat every 30 s (job_monitoring_interval): a
# "started" job silent for this long belongs to a worker that was killed.
HOLDER_SILENT_SECONDS = 90
POLL_SECONDS = 0.1
DEAD_STATUSES = frozenset(
    {
        JobStatus.FAILED,
        JobStatus.FINISHED,
        JobStatus.STOPPED,
        JobStatus.CANCELED,
        JobStatus.SCHEDULED,
    }
)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_SWAP = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return false
"""


def current_job_id() -> str | None:
    job = get_current_job()
    return job.id if job is not None else None


def new_token(job_id: str | None) -> str:
    return f"{job_id or ''}|{secrets.token_hex(8)}"


def holder_is_dead(conn: Redis, value: str, own_job_id: str | None) -> bool:
    """Whether the RQ job named in a lock value (``<job id>|<token>``) can no longer write.

    Dead: the job is gone, known to have stopped (failed, finished, stopped, canceled, or
    scheduled for a retry: what RQ records for a killed work horse), or "started" with a
    heartbeat older than HOLDER_SILENT_SECONDS (its worker was killed). "Queued" is not
    proof: after a Redis crash a restored hash can say queued while its work horse, orphaned
    by a worker that quit, still runs (T20).
    A lock taken outside any job (no job id), or whose value is not ours to read, is only
    freed by its TTL. A lock of an earlier run of our own job id (the job was killed and is
    running again) is ours to take.
    """
    job_id, sep, _ = value.partition("|")
    if not sep or not job_id:
        return False
    if job_id == own_job_id:
        return True
    try:
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except Exception:  # noqa: BLE001 - missing or unreadable job: nobody holds the lock
        return True
    status = job.get_status(refresh=False)
    if status in DEAD_STATUSES:
        return True
    if status != JobStatus.STARTED:
        return False
    beat = job.last_heartbeat or job.started_at
    return beat is None or time.time() - beat.timestamp() > HOLDER_SILENT_SECONDS


def take(conn: Redis, key: str, token: str, ttl: int, own_job_id: str | None) -> bool:
    """Take ``key`` for ``token``: free, or held by a dead job (taken over atomically)."""
    if conn.set(key, token, nx=True, ex=ttl):
        return True
    raw = conn.get(key)
    holder = raw.decode() if isinstance(raw, bytes) else raw
    if (
        holder
        and holder_is_dead(conn, holder, own_job_id)
        and conn.eval(_SWAP, 1, key, holder, token, ttl)
    ):
        log.info("lock %s of dead job %s taken over", key, holder.partition("|")[0])
        return True
    return False


def release(conn: Redis, key: str, token: str) -> bool:
    """Delete ``key`` if ``token`` still holds it; False when it had expired or was taken."""
    return bool(conn.eval(_RELEASE, 1, key, token))


@contextmanager
def job_lock(
    conn: Redis, key: str, *, ttl: int, wait: float, busy: Callable[[], Exception]
) -> Iterator[None]:
    """Hold ``key`` for the current job, waiting up to ``wait`` seconds for a live holder;
    ``busy()`` is raised when the wait ends. A dead holder's lock is taken over at once."""
    job_id = current_job_id()
    token = new_token(job_id)
    deadline = time.monotonic() + wait
    while not take(conn, key, token, ttl, job_id):
        if time.monotonic() >= deadline:
            raise busy()
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        if not release(conn, key, token):
            log.warning("lock %s had expired before its job released it", key)
