"""Pure webhook signature checks: Standard Webhooks (BigCommerce) and ``Bindo-Signature``.

No Flask, no database: bytes and strings in, a yes/no out. Every comparison is constant time,
and a malformed header is simply "not valid" (never an exception the caller must catch).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time

DEFAULT_TOLERANCE_SECONDS = 300
# ASCII digits only: int() would also take "+5", " 5", "1_0" and non-ASCII digits.
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Standard Webhooks ids are opaque; keep them printable, without spaces, and short enough to
# be the inbox key.
WEBHOOK_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def _fresh(timestamp: str, tolerance: int, now: float | None) -> bool:
    """The timestamp is well formed and within ``tolerance`` seconds of now, either way."""
    if not _UNIX_SECONDS.match(timestamp):
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= tolerance


def _any_equal(expected: bytes, candidates: list[bytes]) -> bool:
    """Constant-time comparison against every candidate (no early exit on a match)."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def standard_webhook_candidates(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header; other versions ignored."""
    found: list[bytes] = []
    for entry in header.split(" "):
        version, sep, value = entry.partition(",")
        if not sep or version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            continue
    return found


def verify_standard_webhook(
    secret: bytes,
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Check a Standard Webhooks delivery: HMAC-SHA256(secret, f"{id}.{ts}.{body}"), fresh ts."""
    if not secret or not msg_id or not timestamp or not signature_header:
        return False
    if not WEBHOOK_ID.match(msg_id) or not _fresh(timestamp, tolerance, now):
        return False
    candidates = standard_webhook_candidates(signature_header)
    if not candidates:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = hmac.new(secret, signed, hashlib.sha256).digest()
    return _any_equal(expected, candidates)


def parse_bindo_signature(header: str) -> tuple[str, list[bytes]] | None:
    """``t=<unix>,v1=<hex>[,v1=<hex>...]`` -> (t, [hex as bytes]); None when malformed."""
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and _HEX_SHA256.match(value):
            signatures.append(value.encode("ascii"))
    # Two timestamps would let a forger pick which one we check: refuse the header.
    if len(timestamps) != 1 or not signatures:
        return None
    return timestamps[0], signatures


def verify_bindo(
    secret: str,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Check ``Bindo-Signature``: hex HMAC-SHA256(secret utf-8, f"{t}.{body}"), fresh ``t``."""
    if not secret or not signature_header:
        return False
    parsed = parse_bindo_signature(signature_header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    if not _fresh(timestamp, tolerance, now):
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return _any_equal(expected.encode("ascii"), candidates)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time equality of a shared-secret header; a missing value never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
