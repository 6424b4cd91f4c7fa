"""Per-product write locks in Redis: one writer per product at a time (see ProductLocks)."""

from __future__ import annotations

from redis import Redis

from worker.sync.locks import current_job_id, new_token, release, take

LOCK_TTL_SECONDS = 300  # longer than one product's write; a crashed job frees it by itself
LOCK_RETRY_SECONDS = 5  # first re-try of a product locked by another job; doubles each time
LOCK_RETRY_MAX_SECONDS = 120


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
        self.job_id = current_job_id()
        self.token = new_token(self.job_id)
        self.held: set[int] = set()

    def key(self, bindo_id: int) -> str:
        return f"bc:lock:{self.store_hash}:{bindo_id}"

    def acquire(self, bindo_id: int) -> bool:
        if bindo_id in self.held:
            return True
        if take(self.conn, self.key(bindo_id), self.token, self.ttl, self.job_id):
            self.held.add(bindo_id)
            return True
        return False

    def release_all(self, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Release every lock held, except ``keep`` (products whose write is still pending)."""
        for bindo_id in list(self.held - set(keep)):
            release(self.conn, self.key(bindo_id), self.token)
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
