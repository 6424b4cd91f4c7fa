"""gunicorn reads this file from the working directory: it prepares prometheus_client's
multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``) for the web processes' metrics.

The directory must be empty when the master starts (stale files from an earlier run would be
added to this run's counters) and is private to this host; see docs/operations.md.
"""

import os
from pathlib import Path


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        for stale in Path(path).glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
