"""`make run`'s process handling: the tick lines are hidden, and SIGTERM frees every port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.demo import quiet_lines

ROOT = Path(__file__).resolve().parents[2]
PORTS = (5000, 5100, 5200)


def test_the_tick_jobs_lines_are_hidden_and_others_kept() -> None:
    lines = [
        "07:32:23 worker.1 | high: worker.jobs.tick() (c840-1)\n",
        "07:32:23 worker.1 | high: Job OK (c840-1)\n",
        "07:32:23 worker.1 | Worker w: job c840-1 result is kept for 60 seconds\n",
        "07:32:24 worker.1 | low: worker.jobs.catalog.full_sync(3) (full_sync-1-3)\n",
        "07:32:25 worker.1 | Worker w: job full_sync-1-3 result is kept for 500 seconds\n",
        "07:32:25 web.1    | GET /admin/ 200\n",
    ]
    assert list(quiet_lines(lines)) == lines[3:]


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(
    os.environ.get("FULL_SCENARIOS") != "1", reason="starts the whole demo: FULL_SCENARIOS=1"
)
def test_sigterm_stops_the_demo_and_frees_its_ports(tmp_path) -> None:
    if any(_busy(p) for p in PORTS):
        pytest.skip("a demo (or something else) already uses 5000/5100/5200")
    env = {
        **os.environ,
        "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    demo = subprocess.Popen(
        [sys.executable, "-m", "sandbox.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "demo is running" in line:
                break
        else:
            pytest.fail("the demo never came up")
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(30) == 0
        deadline = time.monotonic() + 10
        while any(_busy(p) for p in PORTS) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p for p in PORTS if _busy(p)] == []
    finally:
        if demo.poll() is None:
            demo.kill()
