"""Bindo webhook signatures: ``t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes, t: int) -> str:
    """The ``Bindo-Signature`` header value for ``body`` sent at Unix time ``t``."""
    message = str(t).encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
