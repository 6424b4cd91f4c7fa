"""T33: store A's app session asking for store B's objects, or presenting B's forged tokens.

Complements tests/lifecycle/test_app_page.py (one order and one run of another store -> 404).
"""

from __future__ import annotations

import random

from portal.extensions import db
from portal.models import ImportedOrder, SyncRun, utcnow
from tests.reliability.conftest import callback_jwt, installed, open_app, size

A, B = "tenanta", "tenantb"


def seed(merchant, n: int, base: int) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {"orders": [], "runs": []}
    for k in range(n):
        order = ImportedOrder(merchant_id=merchant.id, bc_order_id=base + k)
        run = SyncRun(merchant_id=merchant.id, kind="full")
        db.session.add_all([order, run])
        db.session.flush()
        ids["orders"].append(order.id)
        ids["runs"].append(run.id)
    db.session.commit()
    return ids


def test_fuzzed_requests_swapping_store_ids_and_tokens_never_cross_tenants(app, client):
    a = installed(A, activated_at=utcnow())
    b = installed(B, activated_at=utcnow())
    mine, theirs = seed(a, 5, 910_000), seed(b, 5, 920_000)
    open_app(client, A)
    rng = random.Random(33)
    requests = size(150, 500)
    outcomes = {"own 200": 0, "other 404": 0, "forged 401/403": 0, "absent 404": 0}
    for _ in range(requests):
        kind = rng.choice(["orders", "runs"])
        roll = rng.random()
        if roll < 0.2:
            response = client.get(f"/app/{kind}/{rng.choice(mine[kind])}")
            assert response.status_code == 200
            outcomes["own 200"] += 1
            body = response.get_data(as_text=True)
        elif roll < 0.7:
            response = client.get(f"/app/{kind}/{rng.choice(theirs[kind])}")
            assert response.status_code == 404, response.status_code
            outcomes["other 404"] += 1
            body = response.get_data(as_text=True)
        elif roll < 0.85:
            # B's token with a wrong key, or A's key with B's subject swapped in the audience.
            forged = rng.choice(
                [
                    callback_jwt(B, secret="another-secret-of-at-least-32-bytes!"),
                    callback_jwt(B, aud="someone-elses-client-id"),
                    callback_jwt(B, iss="not-bc"),
                    callback_jwt(B, sub=f"stores/{B}/../{A}"),
                ]
            )
            response = client.get("/bigcommerce/load", query_string={"signed_payload_jwt": forged})
            assert response.status_code in {401, 403}
            outcomes["forged 401/403"] += 1
            body = response.get_data(as_text=True)
            # A refused token ends nothing of A's own session, and grants nothing of B's.
            assert client.get(f"/app/{kind}/{theirs[kind][0]}").status_code == 404
        else:
            absent = rng.choice([0, 10**9, 2**31 - 1, 2**31, 2**63])
            response = client.get(f"/app/{kind}/{absent}")
            assert response.status_code == 404
            outcomes["absent 404"] += 1
            body = response.get_data(as_text=True)
        assert B not in body and "92000" not in body, "another store's identifiers leaked"
    page = client.get("/app").get_data(as_text=True)
    assert B not in page and "#92000" not in page
    print(f"\nT33: {requests} fuzzed requests: {outcomes}")


def test_a_tampered_session_cookie_is_not_honoured(app, client):
    installed(A)
    installed(B)
    open_app(client, A)
    cookie = client.get_cookie("bc_app_session", path="/")
    assert cookie is not None
    value = cookie.value
    # Flip characters across the signed cookie: never another store, always "open from BC".
    rng = random.Random(7)
    for _ in range(size(30, 200)):
        pos = rng.randrange(len(value))
        forged = value[:pos] + rng.choice("ABCxyz019-_.") + value[pos + 1 :]
        if forged == value:
            continue
        client.set_cookie("bc_app_session", forged, path="/", domain="localhost")
        response = client.get("/app")
        assert response.status_code in {200, 401}
        assert B not in response.get_data(as_text=True)
