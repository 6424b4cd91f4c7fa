"""A real worker process takes a delivery from the inbox to its handler (store/app/uninstalled)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRecord, Merchant, WebhookEvent
from tests.conftest import wait_for
from tests.webhooks.conftest import bc_delivery, bc_payload


def _event() -> WebhookEvent:
    db.session.expire_all()
    return db.session.scalars(select(WebhookEvent)).one()


def test_a_real_worker_processes_an_uninstall_delivery(client, merchant, worker_process):
    body, headers = bc_delivery(bc_payload("store/app/uninstalled", type="store"))
    assert client.post("/webhooks/bigcommerce", data=body, headers=headers).status_code == 200
    # A second copy of the same event in flight must not matter.
    assert client.post("/webhooks/bigcommerce", data=body, headers=headers).status_code == 200

    worker_process("--no-ticker")

    event = wait_for(lambda: _event().state == "processed" and _event(), timeout=30)
    assert event.attempts == 1
    db.session.expire_all()
    stored = db.session.get(Merchant, merchant.id)
    assert stored.state == "uninstalled" and stored.access_token_enc is None

    def job_state() -> str:
        db.session.expire_all()
        stmt = select(JobRecord.state).where(JobRecord.job_id == f"evt-{event.id}")
        return db.session.scalar(stmt)

    wait_for(lambda: job_state() == "finished", timeout=10)
