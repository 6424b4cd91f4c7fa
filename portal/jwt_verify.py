"""Verification of BigCommerce's ``signed_payload_jwt`` (load, uninstall, remove_user callbacks).

Pinned to HS256 with the client secret, audience and issuer checked, every claim required, and
each ``jti`` accepted once while the token is valid (a UsedJwt row; the primary key decides).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import UsedJwt, utcnow

SUB_RE = re.compile(r"^stores/([a-z0-9]+)$")
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "aud", "iss", "sub", "jti"]
MAX_LIFETIME_SECONDS = 2 * 86400
LEEWAY_SECONDS = 60


class JwtRejected(Exception):
    """The token is not acceptable; ``status`` is the HTTP answer (the reason is for logs)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class CallbackClaims:
    """What the app uses of a verified token."""

    store_hash: str
    jti: str
    expires_at: datetime
    user_id: int | None
    user_email: str | None
    owner_id: int | None
    owner_email: str | None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def decode(token: str) -> CallbackClaims:
    """Check signature and claims (no database access); raise JwtRejected when anything fails."""
    cfg = current_app.config
    if not token or len(token) > 8192:
        raise JwtRejected("missing or oversized token")
    try:
        claims = jwt.decode(
            token,
            cfg["BIGCOMMERCE_CLIENT_SECRET"],
            algorithms=["HS256"],  # pinned: no "none", no HS512, no RS256 key confusion
            audience=cfg["BIGCOMMERCE_CLIENT_ID"],
            issuer="bc",
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS, "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise JwtRejected(f"invalid token: {type(exc).__name__}") from exc
    # BigCommerce signs tokens for 24 h; one claiming to live far longer is not theirs, and its
    # jti would have to be remembered for as long (or overflow a timestamp).
    if int(claims["exp"]) > time.time() + MAX_LIFETIME_SECONDS:
        raise JwtRejected("token lifetime too long")
    match = SUB_RE.match(str(claims.get("sub", "")))
    jti = claims.get("jti")
    if match is None or not isinstance(jti, str) or not 0 < len(jti) <= 128:
        raise JwtRejected("malformed sub or jti")
    user = claims.get("user") if isinstance(claims.get("user"), dict) else {}
    owner = claims.get("owner") if isinstance(claims.get("owner"), dict) else {}
    return CallbackClaims(
        store_hash=match.group(1),
        jti=jti,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        user_id=_int_or_none(user.get("id")),
        user_email=str(user["email"])[:254] if user.get("email") else None,
        owner_id=_int_or_none(owner.get("id")),
        owner_email=str(owner["email"])[:254] if owner.get("email") else None,
    )


def consume_jti(claims: CallbackClaims) -> None:
    """Accept ``claims.jti`` once; a second use raises JwtRejected (the unique key decides)."""
    _purge_expired()
    keep_until = claims.expires_at + timedelta(seconds=LEEWAY_SECONDS)
    db.session.add(UsedJwt(jti=claims.jti, expires_at=keep_until))
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise JwtRejected("token already used") from exc


def _purge_expired() -> None:
    """Opportunistic cleanup: a replay of an expired token fails on ``exp`` anyway."""
    db.session.execute(delete(UsedJwt).where(UsedJwt.expires_at < utcnow()))


def verify(token: str) -> CallbackClaims:
    """Decode, then spend the ``jti``: the full check for a callback."""
    claims = decode(token)
    consume_jti(claims)
    return claims
