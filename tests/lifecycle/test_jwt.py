"""signed_payload_jwt: every malformed, forged, stale or replayed token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.extensions import db
from portal.models import UsedJwt, utcnow
from tests.lifecycle.conftest import CLIENT_SECRET, OTHER_STORE, claims, make_merchant, sign


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(alg: str) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims()).encode())}."


def rs256_token() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return sign(claims(), key=pem.decode(), algorithm="RS256")


def hs_forged_with_public_key() -> str:
    """The classic confusion: an HS256 token keyed with a (public) RSA key's PEM bytes."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims()).encode())
    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


now = int(time.time())
REJECTED = {
    "alg none": lambda: unsigned("none"),
    "unsigned HS256": lambda: unsigned("HS256"),
    "wrong key": lambda: sign(claims(), key="another-secret-of-at-least-32-bytes!!"),
    "HS512 with our secret": lambda: sign(claims(), key=CLIENT_SECRET * 2, algorithm="HS512"),
    "RS256": rs256_token,
    "HS256 keyed with a public key": hs_forged_with_public_key,
    "expired": lambda: sign(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
    "nbf in the future": lambda: sign(claims(nbf=now + 3600)),
    "wrong aud": lambda: sign(claims(aud="someone-else")),
    "wrong iss": lambda: sign(claims(iss="evil")),
    "malformed sub": lambda: sign(claims(sub="stores/ABC;drop")),
    "sub of another kind": lambda: sign(claims(sub="users/abc123")),
    "missing exp": lambda: sign(claims(exp=...)),
    "exp far beyond BigCommerce's 24 h": lambda: sign(claims(exp=now + 30 * 86400)),
    "exp beyond any calendar": lambda: sign(claims(exp=10**12)),
    "missing jti": lambda: sign(claims(jti=...)),
    "missing nbf": lambda: sign(claims(nbf=...)),
    "garbage": lambda: "not.a.jwt",
    "empty": lambda: "",
}


@pytest.mark.parametrize("callback", ["load", "uninstall", "remove_user"])
@pytest.mark.parametrize("case", list(REJECTED))
def test_bad_tokens_are_refused_with_401(client, callback, case):
    make_merchant()
    response = client.get(
        f"/bigcommerce/{callback}", query_string={"signed_payload_jwt": REJECTED[case]()}
    )
    assert response.status_code == 401
    assert "bc_store_hash" not in response.get_data(as_text=True)


def test_valid_token_opens_the_app_positive_control(client):
    make_merchant()
    response = client.get("/bigcommerce/load", query_string={"signed_payload_jwt": sign(claims())})
    assert response.status_code == 303
    assert "signed_payload_jwt" not in response.headers["Location"]
    assert client.get("/app").status_code == 200


def test_a_small_clock_skew_is_tolerated(client):
    make_merchant()
    token = sign(claims(nbf=int(time.time()) + 30, iat=int(time.time()) + 30))
    assert (
        client.get("/bigcommerce/load", query_string={"signed_payload_jwt": token}).status_code
        == 303
    )


def test_a_reused_jti_is_refused(client):
    make_merchant()
    token = sign(claims())
    assert (
        client.get("/bigcommerce/load", query_string={"signed_payload_jwt": token}).status_code
        == 303
    )
    assert (
        client.get("/bigcommerce/load", query_string={"signed_payload_jwt": token}).status_code
        == 401
    )


@pytest.mark.parametrize("state", ["uninstalled", None])
def test_valid_token_of_an_unknown_or_uninstalled_store_is_403(client, state):
    if state:
        merchant = make_merchant(OTHER_STORE, state=state)
        merchant.access_token = None
        db.session.commit()
    token = sign(claims(OTHER_STORE))
    assert (
        client.get("/bigcommerce/load", query_string={"signed_payload_jwt": token}).status_code
        == 403
    )


def test_expired_used_jtis_are_purged(client):
    make_merchant()
    db.session.add(UsedJwt(jti="old", expires_at=utcnow().replace(year=2000)))
    db.session.commit()
    client.get("/bigcommerce/load", query_string={"signed_payload_jwt": sign(claims())})
    assert db.session.get(UsedJwt, "old") is None
