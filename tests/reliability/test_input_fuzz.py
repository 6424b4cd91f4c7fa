"""T10 input fuzz: the inbound endpoints never answer 5xx nor log an unhandled exception.

Hypothesis drives /webhooks/bigcommerce, /webhooks/bindo/<id> and the four app callbacks with
random bytes, random JSON, validly *signed* random JSON (so the shape checks run), and random
headers and query strings. Default: a few hundred cases per endpoint; FULL_SCENARIOS=1: 5,000+.
Complements tests/webhooks (fixed forgeries, bit flips, 413, bad shapes).
"""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.extensions import db
from portal.models import WebhookEvent
from tests.reliability.conftest import callback_jwt, installed, size
from tests.webhooks.conftest import (
    BINDO_SECRET,
    CLIENT_SECRET,
    HOOK_SECRET,
    bindo_signature,
    standard_signature,
)

FUZZ = settings(
    max_examples=size(250, 5000),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)
bc_like = st.fixed_dictionaries(
    {},
    optional={
        "scope": st.one_of(
            st.sampled_from(
                [
                    "store/order/created",
                    "store/app/uninstalled",
                    "store/product/updated",
                    "",
                    "x" * 70,
                ]
            ),
            json_value,
        ),
        "data": st.one_of(
            st.fixed_dictionaries({"type": st.text(max_size=8), "id": json_value}), json_value
        ),
        "producer": st.one_of(
            st.sampled_from(
                ["stores/fuzz1", "stores/FUZZ1", "stores/", "stores/nope", "stores/fuzz1/x"]
            ),
            json_value,
        ),
        "hash": json_value,
        "created_at": json_value,
    },
)
bindo_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=140), json_value),
        "type": st.one_of(
            st.sampled_from(["inventory.updated", "product.updated", ""]), json_value
        ),
        "store_id": st.one_of(st.just("b-fuzz1"), json_value),
        "data": json_value,
    },
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


def no_server_errors(response, error_log) -> None:
    assert response.status_code < 500, response.status_code
    assert not error_log.records, [r.getMessage() for r in error_log.records]


def test_bigcommerce_webhook_fuzz(app, client, error_log):
    installed("fuzz1")
    seen: dict[int, int] = {}

    @FUZZ
    @given(
        mode=st.sampled_from(["raw", "signed", "signed-bad-headers"]),
        raw=st.binary(max_size=300),
        payload=bc_like,
        msg_id=st.one_of(
            st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=140),
            st.from_regex(r"\Amsg_[a-z0-9]{1,20}\Z"),
        ),
        ts_skew=st.integers(-(10**6), 10**6),
        extra=header_text,
    )
    def run(mode, raw, payload, msg_id, ts_skew, extra):
        ts = int(time.time()) + (ts_skew if mode == "signed-bad-headers" else 0)
        body = raw if mode == "raw" else json.dumps(payload).encode()
        safe_id = msg_id.encode("ascii", "replace").decode()
        headers = {
            "webhook-id": safe_id,
            "webhook-timestamp": str(ts) if mode != "raw" else extra,
            "webhook-signature": standard_signature(CLIENT_SECRET, safe_id, ts, body)
            if mode != "raw"
            else extra,
            "X-Bindo-Hook-Secret": HOOK_SECRET if mode == "signed" else extra,
            "Content-Type": "application/json",
        }
        response = client.post("/webhooks/bigcommerce", data=body, headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        no_server_errors(response, error_log)

    run()
    print(f"\nT10 /webhooks/bigcommerce statuses: {dict(sorted(seen.items()))}")
    assert set(seen) <= {200, 400, 401}
    # Every stored row is well formed (scope a string, producer ours).
    for event in db.session.query(WebhookEvent):
        assert isinstance(event.scope, str) and event.payload["producer"] == "stores/fuzz1"


def test_bindo_webhook_fuzz(app, client, error_log):
    merchant = installed("fuzz1")
    seen: dict[int, int] = {}

    @FUZZ
    @given(
        mode=st.sampled_from(["raw", "signed", "signed-other-merchant"]),
        raw=st.binary(max_size=300),
        event=bindo_like,
        header=header_text,
        merchant_id=st.one_of(st.just(merchant.id), st.integers(0, 2**31)),
    )
    def run(mode, raw, event, header, merchant_id):
        body = raw if mode == "raw" else json.dumps(event).encode()
        target = merchant.id if mode == "signed" else merchant_id
        headers = {"Content-Type": "application/json", "Bindo-Event-Id": header}
        if mode == "raw":
            headers["Bindo-Signature"] = header
        else:
            headers["Bindo-Signature"] = bindo_signature(BINDO_SECRET, body, int(time.time()))
            if isinstance(event.get("id"), str) and event["id"].isascii():
                headers["Bindo-Event-Id"] = event["id"]
        response = client.post(f"/webhooks/bindo/{target}", data=body, headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        no_server_errors(response, error_log)

    run()
    print(f"\nT10 /webhooks/bindo statuses: {dict(sorted(seen.items()))}")
    assert set(seen) <= {200, 400, 401, 404}


def test_app_callback_fuzz(app, client, error_log):
    installed("fuzz1")
    seen: dict[int, int] = {}

    claims = st.fixed_dictionaries(
        {},
        optional={
            "sub": st.one_of(
                st.sampled_from(["stores/fuzz1", "stores/other", "stores/"]), json_value
            ),
            "jti": json_value,
            "user": st.one_of(
                st.fixed_dictionaries({"id": json_value, "email": json_value}), json_value
            ),
            "owner": json_value,
            "exp": st.one_of(st.integers(-(2**40), 2**40), json_value),
            "aud": st.one_of(st.just("test-client-id"), json_value),
        },
    )

    @FUZZ
    @given(
        callback=st.sampled_from(["auth", "load", "uninstall", "remove_user"]),
        mode=st.sampled_from(["random-query", "signed-random-claims"]),
        query=st.dictionaries(
            st.sampled_from(
                ["code", "scope", "context", "account_uuid", "signed_payload_jwt", "x"]
            ),
            st.text(max_size=60),
            max_size=5,
        ),
        overrides=claims,
    )
    def run(callback, mode, query, overrides):
        if mode == "signed-random-claims" and callback != "auth":
            try:
                token = callback_jwt("fuzz1", **overrides)
            except (TypeError, ValueError):
                return  # PyJWT refuses to encode some claim types: nothing to send
            query = {"signed_payload_jwt": token}
        response = client.get(f"/bigcommerce/{callback}", query_string=query)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        no_server_errors(response, error_log)

    # /auth with a plausible code would call the real login service: point it at nothing.
    app.config["BIGCOMMERCE_LOGIN_URL"] = "http://127.0.0.1:9"
    run()
    print(f"\nT10 /bigcommerce/* statuses: {dict(sorted(seen.items()))}")


def test_oversize_bodies_are_413_on_both_webhook_routes(app, client, error_log):
    merchant = installed("fuzz1")
    for path in ("/webhooks/bigcommerce", f"/webhooks/bindo/{merchant.id}"):
        for n in (64 * 1024 + 1, 200 * 1024, 3 * 1024 * 1024):
            response = client.post(
                path,
                data=b"{" + b" " * (n - 2) + b"}",
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 413, (path, n, response.status_code)
    assert not error_log.records
