"""Typed errors shared by the BigCommerce and Bindo HTTP clients.

Retryable errors carry how long to wait; final errors carry what staff need to fix the item.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP API answered with an error (or did not answer usefully)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: dict[str, Any] | None = None,
        body: Any = None,
        service: str = "",
        title: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or {}
        self.body = body
        self.service = service
        # The server's short explanation (v3 `title`, first v2 `message`), for staff.
        self.title = title

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for storing on a row (never includes request headers)."""
        return {
            "kind": type(self).__name__,
            "service": self.service,
            "status": self.status,
            "message": self.message,
            "errors": self.errors,
        }


class RetryableError(ApiError):
    """Worth trying again later; ``retry_after`` is the suggested wait in seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float = 0.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """429: the store's quota is spent."""


class ServerError(RetryableError):
    """5xx from the remote side."""


class TransportError(RetryableError):
    """Timeout, refused connection, reset, or a body that is not the JSON we expected."""


class CircuitOpen(RetryableError):
    """The per-store circuit breaker is open: do not call, come back after ``retry_after``."""


class QuotaSpent(CircuitOpen):
    """The store's request quota is spent for longer than the job may hold its worker.

    Handled like an open circuit: the job is deferred to ``retry_after`` (when its calls are
    reserved in a later window, worker/clients/pacing.py) instead of sleeping on a worker
    that other merchants' jobs are waiting for.
    """


class Unauthorized(ApiError):
    """401: the store's token is no longer valid; the store needs re-authorisation."""


class Forbidden(ApiError):
    """403: the token lacks a scope."""


class NotFound(ApiError):
    """404: the entity does not exist."""


class Conflict(ApiError):
    """409: a unique value clashes (name, SKU) or a referenced id is unknown."""


class ValidationFailed(ApiError):
    """400/413/422: the request itself is wrong; retrying the same data will not help."""


class PartialSuccess(ApiError):
    """207: the main save worked but a sub-part (inventory, URL) failed; ``errors`` says which."""
