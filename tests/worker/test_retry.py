"""The retry policy both HTTP clients share (worker/clients/retry.py)."""

from __future__ import annotations

import pytest

from worker.clients.bindo import RETRY as BINDO_RETRY
from worker.clients.retry import RetryPolicy, backoff_delay

# ------------------------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (10, 60.0), (5000, 60.0)],
)
def test_backoff_delay_is_full_jitter_below_the_capped_ceiling(attempt, ceiling):
    assert backoff_delay(attempt, rng=lambda: 0.0) == 0.0
    assert backoff_delay(attempt, rng=lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
    assert 0.0 <= backoff_delay(attempt) <= ceiling


def test_backoff_delay_honours_base_and_cap():
    assert backoff_delay(3, base=0.5, cap=3.0, rng=lambda: 1.0) == 3.0
    assert backoff_delay(1, base=0.5, cap=3.0, rng=lambda: 0.5) == 0.5


def test_reads_and_absolute_writes_are_repeated_until_the_attempts_run_out():
    policy = RetryPolicy(attempts=3, rng=lambda: 1.0)
    assert [policy.wait(n, "GET", "/v3/catalog/products") for n in (1, 2, 3)] == [1.0, 2.0, None]
    assert policy.wait(1, "PUT", "/v3/catalog/products") == 1.0
    assert policy.wait(1, "DELETE", "/v3/hooks/4") == 1.0


def test_a_post_is_repeated_only_when_it_cannot_have_been_processed():
    policy = RetryPolicy(rng=lambda: 1.0)
    assert policy.wait(1, "POST", "/v3/catalog/products") is None  # a 500 or a read timeout
    assert policy.wait(1, "POST", "/v3/catalog/products", sent=False) == 1.0
    assert policy.wait(1, "POST", "/v3/catalog/products", status=503) == 1.0
    assert policy.wait(1, "PATCH", "/v2/orders/1", status=429) == 1.0
    # A server that de-duplicates its writes (Bindo) may have any of them repeated.
    assert BINDO_RETRY.repeatable("POST", "/orders", sent=True, status=500)


def test_a_server_wait_is_honoured_only_while_it_is_short():
    policy = RetryPolicy(rng=lambda: 0.0, longest_wait=10.0)
    assert policy.wait(1, "GET", "/locations", retry_after=7.0) == 7.0
    assert policy.wait(1, "GET", "/locations", retry_after=12.0) is None
