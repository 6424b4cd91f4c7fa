"""``python -m worker.clock``: the one clock process (the Procfile's ``clock``).

Every ``INBOX_POLL_SECONDS`` it runs the inbox relay (worker/inbox.py ``relay_inbox``): new
webhook rows get their processing jobs, and rows whose jobs Redis lost get them again. Every
``TICK_SECONDS`` it queues the ``tick`` job, which runs the due periodic checks on a worker.
It rides out Redis and database outages (it logs once and tries again on the next beat); a
clock that dies anyway is restarted by the process manager. Run exactly one: a second one
is harmless (a duplicate job is a no-op, the tick is coalesced) but wasted work.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from portal.extensions import db
from portal.queue import HIGH, enqueue
from worker.inbox import load_areas, relay_inbox
from worker.runtime import get_app

log = logging.getLogger("worker.clock")


def beat(next_tick: float, tick_seconds: float) -> float:
    """One pass: the relay, then the tick if due; returns when the next tick is due."""
    relay_inbox()
    if tick_seconds and time.monotonic() >= next_tick:
        enqueue("worker.jobs.tick", queue=HIGH, job_id="tick", retry=False, track=False)
        next_tick = time.monotonic() + tick_seconds
    return next_tick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.clock")
    parser.add_argument("--no-tick", action="store_true", help="relay only, no periodic work")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = get_app()
    # The relay's screens are registered by the area modules: import them now, not in the
    # first pass that finds a row (a second of CPU just as deliveries start to arrive).
    load_areas()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    poll = float(app.config["INBOX_POLL_SECONDS"])
    tick_seconds = 0.0 if args.no_tick else float(app.config["TICK_SECONDS"])
    next_tick = time.monotonic() + tick_seconds
    failing = False
    log.info("clock: relay every %.2fs, tick every %ss", poll, tick_seconds or "-")
    while not stop.is_set():
        with app.app_context():
            try:
                next_tick = beat(next_tick, tick_seconds)
                if failing:
                    log.info("clock: running again")
                failing = False
            except Exception:  # noqa: BLE001 - Redis or the database is down: next beat
                db.session.rollback()
                if not failing:
                    log.warning("clock: beat failed; retrying every beat", exc_info=True)
                failing = True
            finally:
                db.session.remove()
        stop.wait(1.0 if failing else poll)
    return 0


if __name__ == "__main__":
    sys.exit(main())
