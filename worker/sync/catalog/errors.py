"""Product errors as staff and merchants read them: the error columns of a ProductBinding
(record_error / clear_error), plain sentences for API errors, and NameClash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.models import (
    ProductBinding,
    SyncState,
    utcnow,
)
from shared.mapping import (
    MappingError,
)
from worker.clients.errors import (
    ApiError,
    NotFound,
    RetryableError,
)

ERROR_VALUE_CHARS = 500


def _plain_api_message(bindo_id: int, exc: ApiError) -> str:
    """A plain sentence for staff and merchants from a BigCommerce error."""
    if isinstance(exc, RetryableError):
        return (
            f"Bindo product {bindo_id}: BigCommerce is busy or unreachable right now "
            f"({exc.status or type(exc).__name__}); the sync tries again automatically."
        )
    if isinstance(exc, NotFound):
        return (
            f"Bindo product {bindo_id}: its BigCommerce product no longer exists (deleted in "
            "BigCommerce?). Retry to create it again, or link it to another BigCommerce product."
        )
    detail = "; ".join(f"{k}: {v}" for k, v in (exc.errors or {}).items()) or exc.title
    return (
        f"Bindo product {bindo_id}: BigCommerce refused the product ({exc.status}): "
        f"{detail or exc.message}. Correct it in Bindo, then retry."
    )


@dataclass
class ProductError:
    """The error columns of a binding, from a MappingError or an API error."""

    code: str
    field: str | None
    value: str | None
    message: str
    detail: dict[str, Any] | None
    retryable: bool

    @classmethod
    def of(cls, bindo_id: int, exc: Exception) -> ProductError:
        if isinstance(exc, MappingError):
            if exc.product_id is None:
                exc.product_id = bindo_id
            data = exc.to_dict()
            return cls(exc.code, exc.field, data["value"], exc.plain, data, False)
        if isinstance(exc, NameClash):
            return cls(
                "bc_name_conflict",
                "name",
                exc.name,
                exc.plain,
                {**exc.api_error.to_dict(), "conflicting_bc_product_id": exc.bc_id},
                False,
            )
        if isinstance(exc, ApiError):
            first_field = next(iter(exc.errors or {}), None)
            code = f"bc_{type(exc).__name__.lower()}"
            return cls(
                code,
                str(first_field)[:64] if first_field else None,
                None,
                _plain_api_message(bindo_id, exc),
                exc.to_dict(),
                exc.retryable,
            )
        return cls("internal", None, None, f"Bindo product {bindo_id}: {exc}", None, False)


class NameClash(Exception):
    """409 on create: BigCommerce already has a product with this name, not linked to us."""

    def __init__(self, bindo_id: int, name: str, bc_id: int | None, api_error: ApiError) -> None:
        self.bindo_id, self.name, self.bc_id, self.api_error = bindo_id, name, bc_id, api_error
        which = f"BigCommerce product {bc_id}" if bc_id else "another BigCommerce product"
        self.plain = (
            f"Bindo product {bindo_id}: BigCommerce already has a product named '{name}' "
            f"({which}) that is not linked to this Bindo product. If it is the same product, "
            f"link them in the admin (Link to {which}); otherwise rename it in Bindo."
        )
        super().__init__(self.plain)


def record_error(binding: ProductBinding, exc: Exception) -> ProductError:
    """Write the error columns; the caller commits."""
    err = ProductError.of(binding.bindo_product_id, exc)
    now = utcnow()
    value = err.value[:ERROR_VALUE_CHARS] if err.value else None
    # The same final error again (a settings save, a resume or a retry with nothing changed in
    # Bindo) is not a new attempt: only a try that could have ended otherwise counts.
    repeated = (
        binding.sync_state == SyncState.FAILED.value
        and not err.retryable
        and (binding.error_code, binding.error_field, binding.error_value)
        == (err.code[:64], err.field, value)
    )
    binding.sync_state = SyncState.FAILED.value
    binding.error_code = err.code[:64]
    binding.error_field = err.field
    binding.error_value = value
    binding.error_message = err.message
    binding.error_detail = err.detail
    binding.error_retryable = err.retryable
    if not repeated:
        binding.attempts = (binding.attempts or 0) + 1
    binding.first_error_at = binding.first_error_at or now
    binding.last_error_at = now
    return err


def clear_error(binding: ProductBinding) -> None:
    """Success: no error left (last_error_at stays as history)."""
    binding.error_code = binding.error_field = binding.error_value = None
    binding.error_message = None
    binding.error_detail = None
    binding.error_retryable = None
    binding.attempts = 0
    binding.first_error_at = None
