"""The one retry policy of both HTTP clients (BigCommerce and Bindo).

Two layers, each with one job:

- **Inside a call** (this module): a failure that is likely to pass in seconds (a 5xx, a 429
  without a usable wait, a timeout, a refused connection) is tried again after a capped
  full-jitter backoff, ``attempts`` times in all. A request is repeated only when repeating it
  cannot do anything twice: a read, an absolute write (PUT, DELETE), a write the server
  de-duplicates (the client says which), or a request that never left (refused connection) or
  was refused unprocessed (503, 429). A wait the server asks for (``Retry-After``) is honoured in
  the call only up to ``longest_wait``; a longer one goes back to the queue.
- **Between jobs** (portal/queue.py): when the call gives up, the typed error surfaces with its
  ``retry_after`` and RQ's ``Retry`` runs the job again minutes later; the item's error stays
  readable by staff meanwhile.

The BigCommerce client's 429s *with* rate headers are not failures: they say when the quota
refills, and the pacer waits for it (worker/clients/pacing.py). See docs/bigcommerce-client.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

# Methods that may change state twice if repeated, unless the server de-duplicates them.
NON_IDEMPOTENT = frozenset({"POST", "PATCH"})
# Answers that say the request was refused before it was processed.
UNPROCESSED = frozenset({429, 503})


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Full-jitter delay before retry number ``attempt`` (0-based): ``rng() * min(cap, base*2^n)``.

    Full jitter spreads competing clients over the whole interval, which is what keeps a crowd
    of workers from retrying in lock step (AWS "Exponential Backoff And Jitter").
    """
    if attempt < 0:
        attempt = 0
    # Past 2**63 the product only matters through the cap; avoid float overflow on huge attempts.
    ceiling = cap if attempt >= 63 else min(cap, base * (2**attempt))
    return rng() * ceiling


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed attempt is tried again inside the call, and after how long."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 60.0
    # A server's Retry-After longer than this is left to the job queue (a worker never idles
    # for long on one store: other merchants' jobs are waiting).
    longest_wait: float = 10.0
    # POST paths (prefixes) the server de-duplicates, so a repeat is harmless.
    deduplicated: Collection[str] = ()
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def repeatable(self, method: str, path: str, *, sent: bool, status: int | None) -> bool:
        """True when sending the request again cannot make a change happen twice."""
        if method.upper() not in NON_IDEMPOTENT or not sent or status in UNPROCESSED:
            return True
        return any(path.startswith(prefix) for prefix in self.deduplicated)

    def wait(
        self,
        failures: int,
        method: str,
        path: str,
        *,
        sent: bool = True,
        status: int | None = None,
        retry_after: float = 0.0,
    ) -> float | None:
        """Seconds to wait before trying again after the ``failures``-th failure in a row, or
        None: the error surfaces now."""
        if failures >= max(1, self.attempts):
            return None
        if not self.repeatable(method, path, sent=sent, status=status):
            return None
        if retry_after > self.longest_wait:
            return None
        backoff = backoff_delay(failures - 1, base=self.base, cap=self.cap, rng=self.rng)
        return max(retry_after, backoff)
