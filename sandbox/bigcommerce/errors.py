"""Error types of the simulator and their BigCommerce wire shapes (v3 object, v2 array)."""

from __future__ import annotations

from typing import Any

STATUS_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "The requested resource was not found.",
    409: "The request conflicts with the current state of the resource.",
    413: "The request payload is too large.",
    422: "JSON data is missing or invalid",
    429: "Too many requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """Raised by domain code; the API layer renders it as BigCommerce would."""

    def __init__(
        self, status: int, title: str | None = None, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(title or TITLES.get(status, "Error"))
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.errors = errors or {}

    def v3_body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "title": self.title,
            "type": STATUS_TYPE,
            "errors": self.errors,
        }

    def v2_body(self) -> list[dict[str, Any]]:
        message = self.title
        if self.errors:
            message += ": " + "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        return [{"status": self.status, "message": message}]


def batch_too_large(limit: int) -> ApiError:
    """413 body documented for product batch PUT (P)."""
    return ApiError(
        413,
        f"The request payload is too large. The maximum items allowed in the array is {limit}.",
    )
