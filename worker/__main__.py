"""``python -m worker``: an RQ worker, as RQ ships it, on all our queues with its scheduler.

A worker that quits (RQ quits when Redis vanishes under a running job) exits, and the process
manager starts it again (``Restart=always`` or the platform's equivalent, see
docs/architecture.md). Periodic work and the inbox relay run in the one clock process
(``python -m worker.clock``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import pkgutil
import sys

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from portal.queue import QUEUE_NAMES, connect, queue_name
from worker.runtime import CurrentJobFilter, get_app, warm_up


def check_redis(conn: Redis) -> str | None:
    """RQ keeps jobs only in Redis: refuse to run where Redis may evict keys."""
    policy = conn.config_get("maxmemory-policy").get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        return f"Redis maxmemory-policy is {policy!r}; RQ needs 'noeviction' or jobs can vanish"
    return None


def prepare_to_fork() -> None:
    """Do once, before the first fork, what every work horse would otherwise do for itself.

    RQ forks a work horse for each job, and a horse starts from the parent's memory. A module
    the parent never imported is imported again in every horse; the database's first-connect
    set-up and the statements every job runs are compiled again; and a horse's first garbage
    collection walks (and so copies) every object the parent made. Together they cost each job
    about 60 ms of CPU (docs/performance.md): the imports and the warm-up happen here, and
    ``gc.freeze`` keeps the collector off the parent's objects.
    """
    import worker.jobs
    from worker.inbox import load_areas

    for module in pkgutil.iter_modules(worker.jobs.__path__):
        importlib.import_module(f"worker.jobs.{module.name}")
    load_areas()
    importlib.import_module("worker.alerts")  # the tick job's checks
    warm_up()
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--maintenance-interval", type=int, default=60)
    # RQ restarts a scheduler that died (Redis outage) at its next maintenance, which an idle
    # worker reaches when its blocking dequeue ends (worker TTL - 15 s; RQ's default 405 s).
    parser.add_argument("--worker-ttl", type=int, default=75)
    args = parser.parse_args(argv)

    app = get_app()
    with app.app_context():
        names = [queue_name(n) for n in QUEUE_NAMES]
    conn = connect(app.config["REDIS_URL"])
    try:
        problem = check_redis(conn)
    except Exception as exc:  # noqa: BLE001
        print(f"worker: Redis is unreachable at {app.config['REDIS_URL']} ({exc})", file=sys.stderr)
        return 2
    if problem:
        print(f"worker: {problem}", file=sys.stderr)
        return 3
    for handler in logging.getLogger().handlers:
        handler.addFilter(CurrentJobFilter())
    prepare_to_fork()
    queues = [Queue(n, connection=conn, serializer=JSONSerializer) for n in names]
    worker = Worker(
        queues,
        connection=conn,
        serializer=JSONSerializer,
        maintenance_interval=args.maintenance_interval,
        worker_ttl=args.worker_ttl,
    )
    worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
