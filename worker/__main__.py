"""The worker entry point: ``python -m worker`` runs RQ with its scheduler on all our queues."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from portal.queue import QUEUE_NAMES, queue_name
from worker.runtime import CurrentJobFilter, get_app

log = logging.getLogger("worker")
TICK_SECONDS = 15
# A worker that quit on its own (Redis vanished under a running job) is replaced; this many
# quick quits in a row (each within QUICK_RUN_SECONDS) mean a real bug: exit instead.
MAX_QUICK_RESTARTS = 20
QUICK_RUN_SECONDS = 10.0
# How often the scheduler moves due delayed jobs to their queues. RQ polls once a second, so
# the 0.5 s stock debounce became 0.5-1.5 s (bench_latency: stock p95 1.67 s, 0.74 s at 0.1 s).
SCHEDULER_POLL_SECONDS = 0.1


class RedisConfigError(RuntimeError):
    pass


def check_redis(conn: Redis) -> None:
    """RQ keeps jobs only in Redis: refuse to run where Redis may evict keys."""
    policy = conn.config_get("maxmemory-policy").get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        raise RedisConfigError(
            f"Redis maxmemory-policy is {policy!r}; RQ needs 'noeviction' or jobs can vanish"
        )


def start_ticker(conn: Redis, prefix: str, stop: threading.Event, every: float) -> threading.Thread:
    """Enqueue ``worker.jobs.tick`` once per period across all workers (a Redis lock decides)."""
    high = Queue(f"{prefix}high", connection=conn, serializer=JSONSerializer)

    def loop() -> None:
        while not stop.wait(every):
            try:
                if conn.set(f"{prefix}bc:tick-lock", "1", nx=True, ex=max(1, int(every))):
                    high.enqueue("worker.jobs.tick", result_ttl=60, failure_ttl=86400)
            except Exception:  # noqa: BLE001 - Redis blips must not kill the ticker
                log.warning("ticker could not enqueue; will try again", exc_info=True)

    thread = threading.Thread(target=loop, name="ticker", daemon=True)
    thread.start()
    return thread


class PromptScheduler(RQScheduler):
    """RQ 2.12's scheduler loop, polling every ``SCHEDULER_POLL_SECONDS`` and outliving Redis
    outages.

    RQ has no option for the poll: its ``interval`` is also the whole-second base of its lock
    and key TTLs (a fraction is refused by Redis), so it stays 1 and only the sleep changes.
    RQ's loop dies on the first Redis error, and its worker restarts it only at a maintenance,
    which an idle worker reaches after its 405 s blocking dequeue: no delayed job (a retry, the
    stock debounce) would run until then. This loop waits for Redis instead; its heartbeat then
    refreshes, re-takes or drops its locks (RQ's own checks) before anything is moved.
    """

    def work(self):
        self._install_signal_handlers()
        self.register_birth()
        down = False
        while True:
            if self._stop_requested:
                self.stop()
                break
            try:
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except RedisError as exc:
                if not down:
                    self.log.warning("Scheduler waiting for Redis: %s", exc)
                down = True
                time.sleep(1.0)
                continue
            if down:
                self.log.info("Scheduler running again")
                down = False
            time.sleep(SCHEDULER_POLL_SECONDS)


class StoppableWorker(Worker):
    """Remembers that a signal asked it to stop, unlike a quit caused by an error; runs the
    prompt scheduler."""

    stop_signalled = False

    def request_stop(self, signum, frame):
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def _start_scheduler(
        self,
        burst=False,
        logging_level="INFO",
        date_format=DEFAULT_LOGGING_DATE_FORMAT,
        log_format=DEFAULT_LOGGING_FORMAT,
    ):
        """RQ 2.12's own ``_start_scheduler`` with ``PromptScheduler`` in place of its class
        (tests/worker/test_worker_process.py checks both against a real worker)."""
        self.scheduler = PromptScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()


def wait_for_redis(conn: Redis, stop: threading.Event) -> None:
    """Block until Redis answers a PING (capped backoff) or a stop signal arrives."""
    delay = 0.5
    while not stop.is_set():
        try:
            conn.ping()
            return
        except RedisError:
            stop.wait(delay)
            delay = min(delay * 2, 10.0)


def run(conn: Redis, queues: list[Queue], args: argparse.Namespace, stop: threading.Event) -> int:
    """Run RQ workers one after another until a signal stops them.

    RQ retries a failed dequeue, but when Redis disappears while a job runs, the worker's
    horse monitoring raises, RQ logs "found an unhandled exception, quitting" and ``work()``
    ends (its teardown may raise too). Without this loop the process would exit and the
    queues would stay unserved until someone restarted it (RELIABILITY.md T20). The quit
    worker's scheduler is retired before the next worker starts (``retire_scheduler``).
    """
    quick = 0
    while True:
        worker = StoppableWorker(
            queues,
            connection=conn,
            serializer=JSONSerializer,
            maintenance_interval=args.maintenance_interval,
        )
        started = time.monotonic()
        try:
            worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
        except RedisError as exc:
            log.warning("worker stopped: Redis unavailable (%s)", exc)
        if worker.stop_signalled or args.burst:
            return 0
        quick = quick + 1 if time.monotonic() - started < QUICK_RUN_SECONDS else 0
        if quick > MAX_QUICK_RESTARTS:
            log.error("worker keeps quitting; giving up after %d quick restarts", quick)
            return 1
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        retire_scheduler(worker, conn, stop)
        if stop.is_set():
            return 0
        time.sleep(1.0)
        log.warning("worker quit without being asked to; starting a new one")


def retire_scheduler(worker: Worker, conn: Redis, stop: threading.Event) -> None:
    """Stop a quit worker's scheduler process and, once Redis answers, free its locks.

    Otherwise the next worker's scheduler finds the locks taken (a Redis restart brings them
    back from the AOF, for 61 s) and does not start; an idle worker only tries again at its
    next maintenance, after its blocking dequeue times out (405 s), and every delayed job (a
    retry, the stock debounce) waits that long. ``release_locks`` frees only this scheduler's.
    """
    scheduler = worker.scheduler
    if scheduler is not None and scheduler._process is not None:
        worker.stop_scheduler()
    wait_for_redis(conn, stop)
    if scheduler is None or stop.is_set():
        return
    try:
        scheduler.release_locks()
    except RedisError:
        log.warning("could not free the scheduler locks; they expire on their own")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--no-ticker", action="store_true", help="do not schedule periodic work")
    parser.add_argument("--maintenance-interval", type=int, default=60)
    args = parser.parse_args(argv)

    app = get_app()
    with app.app_context():
        names = [queue_name(n) for n in QUEUE_NAMES]
        prefix = app.config.get("RQ_QUEUE_PREFIX", "")
    conn = Redis.from_url(app.config["REDIS_URL"])
    try:
        conn.ping()
    except Exception as exc:  # noqa: BLE001
        print(f"worker: Redis is unreachable at {app.config['REDIS_URL']} ({exc})", file=sys.stderr)
        return 2
    try:
        check_redis(conn)
    except RedisConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 3
    for handler in logging.getLogger().handlers:
        handler.addFilter(CurrentJobFilter())
    queues = [Queue(n, connection=conn, serializer=JSONSerializer) for n in names]
    stop = threading.Event()
    if not args.no_ticker and not args.burst:
        start_ticker(conn, prefix, stop, float(app.config.get("TICK_SECONDS", TICK_SECONDS)))
    try:
        return run(conn, queues, args, stop)
    finally:
        stop.set()


if __name__ == "__main__":
    sys.exit(main())
