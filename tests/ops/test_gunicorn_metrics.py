"""The web metrics under gunicorn: several worker processes, one sum (multiprocess mode)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import ROOT, worker_env

TOKEN = "gunicorn-metrics-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_counts_of_all_gunicorn_workers_add_up(app, tmp_path):
    port = free_port()
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_99999.db").write_bytes(b"stale")  # emptied when the master starts
    env = worker_env(app.config, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            gunicorn,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--graceful-timeout",
            "5",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=30)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
        sent = 30
        for _ in range(sent):  # new connections: gunicorn spreads them over its workers
            answer = requests.post(f"{base}/webhooks/bindo/12345", data=b"{}", timeout=30)
            assert answer.status_code == 401
        scrape = requests.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        assert scrape.status_code == 200
        files = sorted(p.name for p in multiproc.iterdir())
        assert "counter_99999.db" not in files and files
        line = next(
            line
            for line in scrape.text.splitlines()
            if line.startswith("bindo_webhook_deliveries_total{")
            and 'status="401"' in line
            and 'source="bindo"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) == sent
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
