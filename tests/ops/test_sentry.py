"""Sentry events pass through the scrubber: nothing secret leaves (a fake transport catches
every envelope the SDK would send)."""

from __future__ import annotations

import json
import secrets

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from portal import webhooks
from portal.admin import dashboard
from portal.error_tracking import init_error_tracking
from tests.conftest import make_staff

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdG9yZXMvYWJjIn0.c2lnbmF0dXJlLW9mLXRoZS1qd3Q"


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[bytes] = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope.serialize())


@pytest.fixture
def sentry(app):
    transport = CapturingTransport()
    app.config["SENTRY_DSN"] = "https://public@sentry.example.com/1"
    assert init_error_tracking(app, transport=transport)
    yield transport
    app.config["SENTRY_DSN"] = ""
    sentry_sdk.init(dsn=None)


def test_no_secret_leaves_in_an_error_event(app, client, sentry, monkeypatch):
    access_token = "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(31)
    )
    hook_secret = secrets.token_urlsafe(24)
    client_secret = app.config["BIGCOMMERCE_CLIENT_SECRET"]
    password = f"pw {secrets.token_hex(6)} battery"
    leaks = [access_token, hook_secret, JWT, client_secret, password]

    def broken_page(*_args, **_kwargs):
        token = access_token  # noqa: F841 - a local that must not be attached
        raise RuntimeError(f"store refused X-Auth-Token: {access_token} jwt={JWT} ")

    monkeypatch.setattr(dashboard, "dashboard_context", broken_page)
    make_staff(password=password)
    login_body = {"email": "admin@bindo.test", "password": password}
    page = client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_token

    client.post("/login", data={**login_body, "csrf_token": csrf_token(page)})
    response = client.get(
        f"/admin/?signed_payload_jwt={JWT}&token={access_token}",
        headers={"Authorization": f"Bearer {access_token}", "X-Auth-Token": access_token},
    )
    assert response.status_code == 500

    def broken_intake(req, conn):
        raise RuntimeError(f"could not store delivery with hook secret {hook_secret}")

    monkeypatch.setattr(webhooks, "_bigcommerce_inbound", broken_intake)
    body = {"scope": "store/order/created", "data": {"secret": hook_secret, "jwt": JWT}}
    answer = client.post(
        "/webhooks/bigcommerce",
        json=body,
        headers={"X-Bindo-Hook-Secret": hook_secret, "webhook-signature": f"v1,{client_secret}"},
    )
    assert answer.status_code == 500
    sentry_sdk.flush()

    sent = b"\n".join(sentry.envelopes).decode()
    events = [json.loads(line) for line in sent.splitlines() if '"exception"' in line]
    assert len(events) >= 2, "both errors should have been reported"
    assert all(e["exception"]["values"][-1]["type"] == "RuntimeError" for e in events)
    for leak in leaks:
        assert leak not in sent, _where(sent, leak)


def test_a_secret_that_starts_with_a_dash_is_scrubbed_whole():
    """``token_urlsafe`` puts a "-" first about one time in 64. A 32-character secret that
    started with one once left in an event: the pattern began at the word boundary after the
    dash and found only 31 characters."""
    from portal.error_tracking import scrub_event

    secrets_ = ["-" + secrets.token_urlsafe(24)[:31], "--" + secrets.token_urlsafe(24)[:30]]
    secrets_ += ["_" + secrets.token_urlsafe(24)[:31], secrets.token_urlsafe(24)[:31] + "-"]
    for secret in secrets_:
        event = {
            "event_id": "e1",
            "exception": {"values": [{"type": "RuntimeError", "value": f"hook secret {secret}"}]},
            "logentry": {"message": f"failed with {secret}, again"},
        }
        sent = json.dumps(scrub_event(event))
        assert secret not in sent and "[secret]" in sent, sent


def _where(sent: str, leak: str) -> str:
    i = sent.find(leak)
    return sent[max(0, i - 300) : i + 50]
