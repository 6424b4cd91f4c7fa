"""Per-product write locks in Redis: one writer per product at a time (see ProductLocks)."""

from __future__ import annotations

import secrets

from redis import Redis

LOCK_TTL_SECONDS = 300  # longer than one product's write; a crashed job frees it by itself
LOCK_RETRY_SECONDS = 5  # a product locked by another job is pushed again this much later

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class ProductLocks:
    """Redis SET NX locks ``bc:lock:<store>:<bindo_id>``: one writer per product at a time.

    A job that cannot take a lock does not wait (it would hold a worker idle); the product is
    re-enqueued shortly instead. Locks are released only by their owner (token check).
    """

    def __init__(self, conn: Redis, store_hash: str, ttl: int = LOCK_TTL_SECONDS) -> None:
        self.conn = conn
        self.store_hash = store_hash
        self.ttl = ttl
        self.token = secrets.token_hex(8)
        self.held: set[int] = set()

    def key(self, bindo_id: int) -> str:
        return f"bc:lock:{self.store_hash}:{bindo_id}"

    def acquire(self, bindo_id: int) -> bool:
        if bindo_id in self.held:
            return True
        if self.conn.set(self.key(bindo_id), self.token, nx=True, ex=self.ttl):
            self.held.add(bindo_id)
            return True
        return False

    def release_all(self, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Release every lock held, except ``keep`` (products whose write is still pending)."""
        for bindo_id in list(self.held - set(keep)):
            self.conn.eval(_RELEASE, 1, self.key(bindo_id), self.token)
            self.held.discard(bindo_id)
