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

    # The event row is the job's tracking row (no JobRecord); RQ saw the job finish.
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from portal.queue import redis_conn

    def job_state() -> str:
        job = Job.fetch(f"evt-{event.id}", connection=redis_conn(), serializer=JSONSerializer)
        return getattr(job.get_status(), "value", job.get_status())

    wait_for(lambda: job_state() == "finished", timeout=10)
    assert db.session.scalar(select(JobRecord).where(JobRecord.job_id == f"evt-{event.id}")) is None
