"""`make run`: start both simulators, the portal and a worker, seed demo data, print what to try.

Everything runs on loopback: BigCommerce simulator :5100, Bindo simulator :5200, portal :5000.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORTAL, BC, BINDO = "http://127.0.0.1:5000", "http://127.0.0.1:5100", "http://127.0.0.1:5200"
STORE_HASH, BINDO_STORE = "demostore", "demo-store"
STAFF_EMAIL = "admin@bindo.demo"


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    secrets_file = ROOT / "instance" / "demo.env"
    secrets_file.parent.mkdir(exist_ok=True)
    if not secrets_file.exists():
        values = {
            "BIGCOMMERCE_CLIENT_ID": f"demo-{secrets.token_hex(6)}",
            "BIGCOMMERCE_CLIENT_SECRET": secrets.token_hex(24),
            "DEMO_BINDO_TOKEN": secrets.token_hex(16),
            "DEMO_BINDO_WEBHOOK_SECRET": secrets.token_hex(16),
        }
        secrets_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        secrets_file.chmod(0o600)
    for line in secrets_file.read_text().splitlines():
        key, _, value = line.partition("=")
        env.setdefault(key, value)
    env.update(
        BIGCOMMERCE_API_URL=BC,
        BIGCOMMERCE_LOGIN_URL=BC,
        BINDO_API_URL=BINDO,
        APP_URL=PORTAL,
        DEMO_BINDO_STORE=BINDO_STORE,
        # The simulator's control-panel page frames the merchant app, as BigCommerce does.
        BIGCOMMERCE_FRAME_ANCESTORS=BC,
        # Staff pages link products and orders to the Bindo simulator's back-office page.
        BINDO_BACKOFFICE_URL=BINDO,
        BINDO_BACKOFFICE_PRODUCT_PATH="/_sim/stores/{store_id}?product={id}",
        BINDO_BACKOFFICE_ORDER_PATH="/_sim/stores/{store_id}?order={id}",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit(f"demo: {url} did not come up within {timeout:.0f}s")


def create_staff(env: dict[str, str]) -> str:
    password_file = ROOT / "instance" / "demo-staff-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    subprocess.run(
        [
            str(BIN / "flask"),
            "--app",
            "wsgi",
            "staff",
            "create",
            STAFF_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        input=password + "\n",
        text=True,
        stdout=subprocess.DEVNULL,
    )
    return password


def install_app() -> str:
    """Create the BigCommerce store and install our app in it, as a merchant's click would."""
    setup_token = secrets.token_hex(16)  # replaced by the install's own token below
    requests.post(
        f"{BC}/_sim/stores",
        json={
            "store_hash": STORE_HASH,
            "name": "Demo Outdoor Co",
            "weight_units": "KGS",
            "access_token": setup_token,
        },
        timeout=10,
    )
    # A second BigCommerce location, so staff can try the map mode of the Locations page.
    requests.post(
        f"{BC}/stores/{STORE_HASH}/v3/inventory/locations",
        json=[{"code": "PICKUP", "label": "Warehouse pickup", "type_id": "VIRTUAL"}],
        headers={"X-Auth-Token": setup_token},
        timeout=10,
    )
    redirect = requests.get(
        f"{BC}/_sim/stores/{STORE_HASH}/install", allow_redirects=False, timeout=10
    )
    callback = redirect.headers["Location"]
    # Our /bigcommerce/auth exchanges the code, then redirects the browser to the app page.
    answer = requests.get(callback, timeout=30, allow_redirects=False)
    return "installed" if answer.status_code in (302, 303) else f"failed: HTTP {answer.status_code}"


def instructions(env: dict[str, str], password: str, install_status: str) -> str:
    return f"""
================================================================================
 Bindo x BigCommerce demo is running (Ctrl-C or SIGTERM stops everything)

 Staff admin     {PORTAL}/admin      sign in as {STAFF_EMAIL} / {password}
 BigCommerce     {BC}/_sim/stores/{STORE_HASH}   (our app: {install_status})
 Bindo POS       {BINDO}/_sim/stores/{BINDO_STORE}   (40 products, 2 locations)

 Try this:
 1. In the admin, open Install notifications, then Merchants -> {STORE_HASH} -> Manage.
    Link the Bindo store:  store id {BINDO_STORE}
                           API token {env["DEMO_BINDO_TOKEN"]}
                           location 10
                           webhook secret {env["DEMO_BINDO_WEBHOOK_SECRET"]}
    Check connection, then Activate.
 2. Watch products appear on the BigCommerce page (refresh); two products show
    weight errors in the admin's Sync errors ("heavy", "2 stone").
 3. Open the merchant's app inside the control panel (an iframe, as BigCommerce shows it):
      {BC}/_sim/stores/{STORE_HASH}/control-panel
 4. Place an order: "Buy 1" next to a product on the BigCommerce page; a few seconds later the
    order is on the Bindo page with its customer, and the Bindo stock went down.
    "Cancel" or "Refund all" on the order puts the stock back in Bindo.
 5. Sell in the store: change stock on the Bindo page's API (or PUT {BINDO}/_sim/stores/
    {BINDO_STORE}/stock) and watch the BigCommerce level follow.
 6. Several locations: on the manage page, "Locations and stock set-up", read the lists,
    link both Bindo locations and map them to the two BigCommerce locations.
================================================================================
"""


# The periodic tick runs every 15 s; its three lines each time would push the instructions off
# the screen. DEMO_VERBOSE=1 shows every line.
TICK_JOB = "worker.jobs.tick("


def quiet_lines(lines: Iterable[str]) -> Iterator[str]:
    """Honcho's output without the tick job's lines: its start, its "Job OK", its result TTL."""
    tick_ids: set[str] = set()
    for line in lines:
        if TICK_JOB in line:
            tick_ids.add(line.rstrip().rsplit("(", 1)[-1].rstrip(")"))
            continue
        job_id = next((i for i in tick_ids if i in line), None)
        if job_id is None:
            yield line
        elif "result is kept" in line.lower():
            tick_ids.discard(job_id)  # the job's last line


def copy_output(source: IO[str], verbose: bool) -> threading.Thread:
    def copy() -> None:
        for line in source if verbose else quiet_lines(source):
            sys.stdout.write(line)
            sys.stdout.flush()

    thread = threading.Thread(target=copy, name="honcho-output", daemon=True)
    thread.start()
    return thread


class Stop(Exception):
    """SIGTERM or SIGHUP: stop everything, as Ctrl-C does."""


def _stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def ports_in_use() -> list[int]:
    busy = []
    for port in (5000, 5100, 5200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def main() -> int:
    busy = ports_in_use()
    if busy:
        print(f"demo: port(s) {busy} already in use on 127.0.0.1 (another demo still running?)")
        return 1
    # Python's default SIGTERM ends the process without its finally block, which left honcho
    # (its own session, so the signal never reaches it) and all four processes on their ports.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    env = demo_env()
    procs = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile.dev"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert procs.stdout is not None
    copy_output(procs.stdout, verbose=os.environ.get("DEMO_VERBOSE") == "1")
    try:
        for url in (f"{PORTAL}/healthz", f"{BC}/", f"{BINDO}/"):
            wait_up(url)
        password = create_staff(env)
        status = install_app()
        print(instructions(env, password, status), flush=True)
        return procs.wait()
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut this short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if procs.poll() is None:
            os.killpg(procs.pid, signal.SIGTERM)
            try:
                procs.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(procs.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
