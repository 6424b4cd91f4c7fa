"""App lifecycle: install + token exchange, signed_payload_jwt callbacks, uninstall, revoke."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests

from sandbox.bigcommerce import BCSimConfig


def install_query(sim_url: str, store_hash: str) -> dict[str, str]:
    response = requests.get(
        f"{sim_url}/_sim/stores/{store_hash}/install", allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert location.path == "/bigcommerce/auth"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_fields(config: BCSimConfig, query: dict[str, str], **overrides: str) -> dict[str, str]:
    fields = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "code": query["code"],
        "context": query["context"],
        "scope": query["scope"],
        "grant_type": "authorization_code",
        "redirect_uri": f"{config.app_url}/bigcommerce/auth",
    }
    fields.update(overrides)
    return fields


def test_install_redirects_to_auth_callback_with_code_scope_context(bc_sim, bc_store):
    query = install_query(bc_sim.url, "abc123")
    assert query["context"] == "stores/abc123"
    # Real installs grant extras on top of the app profile's scopes (issue 15 item 1).
    assert query["scope"].split() == [
        *bc_sim.config.scopes.split(),
        "store_v2_default",
        "users_basic_information",
    ]
    assert query["account_uuid"] == bc_sim.config.account_uuid
    assert query["code"]


@pytest.mark.parametrize("encoding", ["json", "form"])
def test_code_exchange_answers_documented_token_response(bc_sim, bc_store, encoding):
    fields = token_fields(bc_sim.config, install_query(bc_sim.url, "abc123"))
    kwargs = {"json": fields} if encoding == "json" else {"data": fields}
    response = requests.post(f"{bc_sim.url}/oauth2/token", timeout=5, **kwargs)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "scope", "user", "owner", "context", "account_uuid"}
    assert set(body["user"]) == {"id", "username", "email"}
    assert body["context"] == "stores/abc123"
    assert body["scope"] == bc_sim.config.granted_scopes()
    new_token = body["access_token"]
    assert bc_store.get("/v2/time", headers={"X-Auth-Token": new_token}).status_code == 200
    assert bc_store.get("/v2/time").status_code == 401  # the old token is replaced


@pytest.mark.parametrize(
    ("override", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"context": "stores/other"}, 400, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"redirect_uri": "https://evil.example/auth"}, 400, "invalid_grant"),
        ({"scope": ""}, 400, "invalid_request"),
    ],
)
def test_bad_token_requests_are_refused(bc_sim, bc_store, override, status, error):
    fields = token_fields(bc_sim.config, install_query(bc_sim.url, "abc123"), **override)
    response = requests.post(f"{bc_sim.url}/oauth2/token", json=fields, timeout=5)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_codes_are_single_use(bc_sim, bc_store):
    fields = token_fields(bc_sim.config, install_query(bc_sim.url, "abc123"))
    first = requests.post(f"{bc_sim.url}/oauth2/token", json=fields, timeout=5)
    second = requests.post(f"{bc_sim.url}/oauth2/token", json=fields, timeout=5)
    assert (first.status_code, second.status_code) == (200, 400)


def test_codes_expire(bc_sim, bc_store):
    bc_sim.config.code_ttl_seconds = 0.0
    fields = token_fields(bc_sim.config, install_query(bc_sim.url, "abc123"))
    response = requests.post(f"{bc_sim.url}/oauth2/token", json=fields, timeout=5)
    assert response.status_code == 400


def test_config_can_skew_scope_and_token_context_for_negative_tests(bc_sim, bc_store):
    bc_sim.config.install_scope_override = "store_v2_products_read_only"
    bc_sim.config.token_context_override = "stores/zzz999"
    query = install_query(bc_sim.url, "abc123")
    assert query["scope"] == "store_v2_products_read_only"
    body = requests.post(
        f"{bc_sim.url}/oauth2/token", json=token_fields(bc_sim.config, query), timeout=5
    ).json()
    assert body["context"] == "stores/zzz999"


def decode(config: BCSimConfig, token: str) -> dict:
    return jwt.decode(
        token, config.client_secret, algorithms=["HS256"], audience=config.client_id, issuer="bc"
    )


def test_load_redirects_with_signed_payload_jwt(bc_sim, bc_store):
    response = requests.get(
        f"{bc_sim.url}/_sim/stores/abc123/load",
        params={"user_id": 77, "user_email": "staff@example.com"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert location.path == "/bigcommerce/load"
    claims = decode(bc_sim.config, parse_qs(location.query)["signed_payload_jwt"][0])
    assert claims["sub"] == "stores/abc123"
    assert claims["user"] == {"id": 77, "email": "staff@example.com", "locale": "en-US"}
    assert claims["owner"]["email"] == "owner@example.com"
    assert claims["exp"] == claims["nbf"] + 86400
    assert claims["url"] == "/" and claims["channel_id"] is None
    assert jwt.get_unverified_header(parse_qs(location.query)["signed_payload_jwt"][0])["alg"] == (
        "HS256"
    )


def test_make_jwt_overrides_claims_and_key(bc_sim, bc_store):
    token = bc_sim.state.make_jwt("abc123", aud="other-app")
    with pytest.raises(jwt.InvalidAudienceError):
        decode(bc_sim.config, token)
    forged = bc_sim.state.make_jwt("abc123", secret="not-the-secret")
    with pytest.raises(jwt.InvalidSignatureError):
        decode(bc_sim.config, forged)
    distinct = {decode(bc_sim.config, bc_sim.state.make_jwt("abc123"))["jti"] for _ in range(3)}
    assert len(distinct) == 3


def test_uninstall_calls_app_delivers_event_then_drops_hooks_and_token(bc_sim, bc_store, bc_portal):
    bc_store.post(
        "/v3/hooks", {"scope": "store/app/uninstalled", "destination": bc_portal.hook_url}
    )
    result = requests.post(f"{bc_sim.url}/_sim/stores/abc123/uninstall", timeout=10).json()
    assert result["status"] == 200 and result["hooks_deleted"] == 1
    assert bc_sim.state.wait_deliveries(5)
    [callback] = bc_portal.callbacks
    assert callback["callback"] == "uninstall"
    assert decode(bc_sim.config, callback["args"]["signed_payload_jwt"])["sub"] == "stores/abc123"
    [delivery] = bc_portal.webhooks
    payload = json.loads(delivery["body"])
    assert payload["scope"] == "store/app/uninstalled"
    assert payload["data"] == {"type": "store"}
    assert bc_sim.state.stores["abc123"].hooks == {}
    assert bc_store.get("/v2/time").status_code == 401


def test_remove_user_calls_app_with_that_user(bc_sim, bc_store, bc_portal):
    requests.get(
        f"{bc_sim.url}/_sim/stores/abc123/load", params={"user_id": 42}, allow_redirects=False
    )
    requests.post(f"{bc_sim.url}/_sim/stores/abc123/remove_user", json={"user_id": 42}, timeout=5)
    [callback] = bc_portal.callbacks
    assert callback["callback"] == "remove_user"
    assert decode(bc_sim.config, callback["args"]["signed_payload_jwt"])["user"]["id"] == 42


def test_revoked_token_gets_401_in_v3_and_v2_shapes(bc_sim, bc_store):
    requests.post(f"{bc_sim.url}/_sim/stores/abc123/revoke_token", timeout=5)
    v3 = bc_store.get("/v3/catalog/products")
    v2 = bc_store.get("/v2/orders")
    assert (v3.status_code, v2.status_code) == (401, 401)
    assert v3.json()["status"] == 401
    assert v2.json()[0]["status"] == 401


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "nope"}])
def test_missing_or_wrong_token_is_401_and_x_auth_client_is_never_required(bc_store, headers):
    plain = requests.get(bc_store.url("/v2/time"), headers=headers, timeout=5)
    assert plain.status_code == 401
    ok = requests.get(bc_store.url("/v2/time"), headers={"X-Auth-Token": bc_store.token}, timeout=5)
    assert ok.status_code == 200


def test_created_store_answers_with_usable_token_and_rejects_bad_units(bc_sim):
    created = requests.post(
        f"{bc_sim.url}/_sim/stores", json={"store_hash": "s1", "weight_units": "Ounces"}, timeout=5
    )
    assert created.status_code == 201
    token = created.json()["access_token"]
    info = requests.get(
        f"{bc_sim.url}/stores/s1/v2/store", headers={"X-Auth-Token": token}, timeout=5
    ).json()
    assert info["weight_units"] == "Ounces"
    bad = requests.post(
        f"{bc_sim.url}/_sim/stores", json={"store_hash": "s2", "weight_units": "stone"}, timeout=5
    )
    assert bad.status_code == 400
