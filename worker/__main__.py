"""``python -m worker``: an RQ worker, as RQ ships it, on all our queues with its scheduler.

A worker that quits (RQ quits when Redis vanishes under a running job) exits, and the process
manager starts it again (``Restart=always`` or the platform's equivalent, see
docs/architecture.md). Periodic work and the inbox relay run in the one clock process
(``python -m worker.clock``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from portal.queue import QUEUE_NAMES, connect, queue_name
from worker.runtime import CurrentJobFilter, get_app


def check_redis(conn: Redis) -> str | None:
    """RQ keeps jobs only in Redis: refuse to run where Redis may evict keys."""
    policy = conn.config_get("maxmemory-policy").get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        return f"Redis maxmemory-policy is {policy!r}; RQ needs 'noeviction' or jobs can vanish"
    return None


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
