"""Per-product write locks in Redis: one writer per product at a time (see ProductLocks)."""

from __future__ import annotations

import logging
import secrets
import time

from redis import Redis
from rq import get_current_job
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 300  # longer than one product's write; a crashed job frees it by itself
LOCK_RETRY_SECONDS = 5  # first re-try of a product locked by another job; doubles each time
LOCK_RETRY_MAX_SECONDS = 120
# RQ's worker refreshes a running job's heartbeat every 30 s (job_monitoring_interval): a
# "started" job silent for this long belongs to a worker that was killed.
HOLDER_SILENT_SECONDS = 90

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return false
"""


def holder_is_dead(conn: Redis, value: str, own_job_id: str | None) -> bool:
    """Whether the RQ job named in a lock value (``<job id>|<token>``) can no longer write.

    Dead: the job is gone, no longer running (failed, finished, queued again for a retry),
    or "started" with a heartbeat older than HOLDER_SILENT_SECONDS (its worker was killed).
    A lock taken outside any job (no job id) is only freed by its TTL. A lock of an earlier
    run of our own job id (the job was killed and is running again) is ours to take.
    """
    job_id, _, _ = value.partition("|")
    if not job_id:
        return False
    if job_id == own_job_id:
        return True
    try:
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except Exception:  # noqa: BLE001 - missing or unreadable job: nobody holds the lock
        return True
    if job.get_status(refresh=False) != JobStatus.STARTED:
        return True
    beat = job.last_heartbeat or job.started_at
    return beat is None or time.time() - beat.timestamp() > HOLDER_SILENT_SECONDS


class ProductLocks:
    """Redis SET NX locks ``bc:lock:<store>:<bindo_id>``: one writer per product at a time.

    A job that cannot take a lock does not wait (it would hold a worker idle); the product is
    re-enqueued later instead. Locks are released only by their owner (token check). The lock
    value names the RQ job holding it, so a lock whose job is known dead (killed work horse or
    worker) is taken over at once instead of blocking the product for the whole TTL.
    """

    def __init__(self, conn: Redis, store_hash: str, ttl: int = LOCK_TTL_SECONDS) -> None:
        self.conn = conn
        self.store_hash = store_hash
        self.ttl = ttl
        job = get_current_job()
        self.job_id = job.id if job is not None else None
        self.token = f"{self.job_id or ''}|{secrets.token_hex(8)}"
        self.held: set[int] = set()

    def key(self, bindo_id: int) -> str:
        return f"bc:lock:{self.store_hash}:{bindo_id}"

    def acquire(self, bindo_id: int) -> bool:
        if bindo_id in self.held:
            return True
        key = self.key(bindo_id)
        if self.conn.set(key, self.token, nx=True, ex=self.ttl):
            self.held.add(bindo_id)
            return True
        raw = self.conn.get(key)
        holder = raw.decode() if isinstance(raw, bytes) else raw
        if (
            holder
            and holder_is_dead(self.conn, holder, self.job_id)
            and self.conn.eval(_TAKE_OVER, 1, key, holder, self.token, self.ttl)
        ):
            log.info("product %s: lock of dead job %s taken over", bindo_id, holder)
            self.held.add(bindo_id)
            return True
        return False

    def release_all(self, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Release every lock held, except ``keep`` (products whose write is still pending)."""
        for bindo_id in list(self.held - set(keep)):
            self.conn.eval(_RELEASE, 1, self.key(bindo_id), self.token)
            self.held.discard(bindo_id)

    def retry_delay(self, bindo_id: int) -> int:
        """Seconds before a product found locked is tried again: 5, 10, 20 ... 120, counted
        per product until a try gets the lock (so a long hold is not polled every 5 s)."""
        key = f"bc:lock-retries:{self.store_hash}:{bindo_id}"
        tries = int(self.conn.incr(key))
        self.conn.expire(key, LOCK_RETRY_MAX_SECONDS * 4)
        return min(LOCK_RETRY_MAX_SECONDS, LOCK_RETRY_SECONDS * 2 ** min(tries - 1, 8))

    def forget_retries(self, bindo_ids: list[int]) -> None:
        if bindo_ids:
            self.conn.delete(*(f"bc:lock-retries:{self.store_hash}:{i}" for i in bindo_ids))
