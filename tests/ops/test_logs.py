"""LOG_FORMAT=json: one JSON object per event, carrying the request id; readable otherwise."""

from __future__ import annotations

import io
import json
import logging

from portal.logs import (
    ContextFilter,
    JsonFormatter,
    RedactingFilter,
    bind_log_context,
    reset_log_context,
)


def capture() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    handler.addFilter(ContextFilter())
    return handler, stream


def test_a_web_log_line_carries_the_request_id(app, client):
    handler, stream = capture()
    logger = logging.getLogger("portal.webhooks")
    logger.addHandler(handler)
    try:
        answer = client.post("/webhooks/bindo/1", data=b"{}", headers={"X-Request-ID": "req-42"})
        unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id <x>"})
    finally:
        logger.removeHandler(handler)
    assert answer.status_code == 401 and answer.headers["X-Request-ID"] == "req-42"
    assert (
        unsafe.headers["X-Request-ID"] != "bad id\n{}" and len(unsafe.headers["X-Request-ID"]) == 32
    )
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records and records[0]["request_id"] == "req-42"
    assert records[0]["level"] == "WARNING" and "rejected" in records[0]["message"]


def test_job_fields_and_redaction_in_a_json_line():
    handler, stream = capture()
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    token = bind_log_context(job_id="stock-abc", merchant=7, store_hash="abc")
    try:
        try:
            raise ValueError("access_token=sekrit-value")
        except ValueError:
            logger.exception("push failed with token=sekrit-value")
    finally:
        reset_log_context(token)
        logger.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["job_id"] == "stock-abc" and record["merchant"] == 7
    assert record["store_hash"] == "abc" and "ValueError" in record["exc"]
    assert "sekrit" not in line
