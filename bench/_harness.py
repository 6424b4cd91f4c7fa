"""Shared set-up for the benchmark scripts (not a benchmark itself).

Every script builds its own world: a temp directory with a SQLite file (or a PostgreSQL
database it creates and drops), Redis db 12 flushed at start, both simulators served over
loopback with ``serve_in_thread``, and merchants linked the way ``tests/stack.py`` links them.
Nothing here asserts timings: the scripts print figures.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret-0123456789"
SECRET_KEY = "bench-secret-key-" + "b" * 23  # 40 characters
BINDO_LOCATION = 10


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def describe(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def cpu_reference_ms() -> float:
    """Best of five runs of a fixed pure-Python loop (1M iterations), in ms.

    Printed with every benchmark so figures from different days can be compared: the
    development machine's speed varies from session to session.
    """
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i & 7
        best = min(best, time.perf_counter() - started)
    return best * 1000


class CpuMeter:
    """CPU seconds spent by each part of a bench run, read from /proc (Linux only).

    ``parts`` maps a label to process ids; each part's figure is its processes' own CPU plus
    that of their reaped children (an RQ worker's work horses, a PostgreSQL server's exited
    backends). PostgreSQL and Redis are found by name. ``report`` prints each part's share.
    """

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, parts: dict[str, Sequence[int]]) -> None:
        self.parts = {label: list(pids) for label, pids in parts.items()}
        self.parts["postgresql"] = self._named("postgres")
        self.parts["redis"] = self._named("redis-server")
        self.start = self.read()
        self.started = time.perf_counter()

    @staticmethod
    def _named(comm: str) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() == comm:
                        pids.append(int(entry.name))
        return pids

    def _seconds(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime, stime, cutime, cstime are fields 14-17 (1-based); fields[0] is field 3.
        return sum(int(v) for v in fields[11:15]) / self.TICK

    def read(self) -> dict[str, float]:
        # A server's processes that started later (backends) are counted when they exit, as
        # their parent's reaped children; those alive at the end are added then.
        if "postgresql" in self.parts:
            self.parts["postgresql"] = sorted({*self.parts["postgresql"], *self._named("postgres")})
        return {label: sum(self._seconds(p) for p in pids) for label, pids in self.parts.items()}

    def report(self, per: int, unit: str) -> None:
        end, wall = self.read(), time.perf_counter() - self.started
        used = {label: max(0.0, end[label] - self.start.get(label, 0.0)) for label in end}
        total = sum(used.values())
        print(f"   CPU over {wall:.0f} s wall ({total / wall:.2f} cores busy on {os.cpu_count()}): "
              f"{total:.0f} s in all, {1000 * total / per:.0f} ms per {unit}")  # fmt: skip
        for label, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
            print(f"     {label:28} {seconds:8.1f} s  {100 * seconds / total:5.1f} %  "
                  f"{1000 * seconds / per:7.1f} ms per {unit}")  # fmt: skip


def banner(title: str) -> None:
    load = os.getloadavg()
    print(f"== {title}")
    print(
        f"   {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, Python {platform.python_version()}, "
        f"reference loop {cpu_reference_ms():.0f} ms"
    )


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until truthy; returns its value or None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


# --- configuration -----------------------------------------------------------------------------


def quiet_logs() -> None:
    """No per-request lines from werkzeug or the app: the figures are the output."""
    import logging

    for name in ("werkzeug", "portal", "worker", "rq", "sandbox"):
        logging.getLogger(name).setLevel(logging.ERROR)


def flush_redis(url: str = REDIS_URL) -> None:
    from redis import Redis

    Redis.from_url(url).flushdb()


def bench_config(database_url: str, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "APP_ENV": "test",
        "TESTING": False,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET_KEY,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BIGCOMMERCE_CLIENT_ID": CLIENT_ID,
        "BIGCOMMERCE_CLIENT_SECRET": CLIENT_SECRET,
        "APP_URL": "http://127.0.0.1",
        "SERVER_NAME": None,
        # Benchmarks never want the periodic ticks to interfere.
        "RECONCILE_INTERVAL_SECONDS": 86_400,
        "ORDER_SWEEP_INTERVAL_SECONDS": 86_400,
    }
    cfg.update(extra)
    return cfg


def env_from_config(cfg: dict[str, Any]) -> dict[str, str]:
    """Environment for a subprocess (worker, gunicorn) reading the same configuration."""
    env = dict(os.environ)
    for key, value in cfg.items():
        if value is None or key in ("TESTING", "SERVER_NAME"):
            continue
        env[key] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextmanager
def temp_dir(prefix: str):
    """A scratch dir for the run's database and process logs; BENCH_KEEP_LOGS=1 keeps it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP_LOGS") == "1":
            print(f"   logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def make_app(cfg: dict[str, Any]):
    """The portal app on a fresh schema (create_all), registered as the worker's app."""
    from portal import create_app
    from portal.extensions import db
    from worker.runtime import set_app

    app = create_app(dict(cfg))
    with app.app_context():
        db.drop_all()
        db.create_all()
    set_app(app)
    quiet_logs()
    return app


# --- PostgreSQL (optional) --------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")


def stop_processes(procs: Sequence[subprocess.Popen]) -> None:
    """SIGTERM every process still running, then wait for each (15 s, then SIGKILL)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def teardown(
    app, world: World, pg_name: str | None, procs: Sequence[subprocess.Popen] = ()
) -> None:
    """Stop the bench's processes and the simulators, empty the bench Redis db and drop the
    bench database (if any)."""
    stop_processes(procs)
    world.close()
    flush_redis()
    if pg_name:
        from portal.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        pg_drop(pg_name)


@dataclass
class BenchRun:
    """What ``bench_run`` sets up: processes appended to ``procs`` are stopped at the end."""

    app: Any
    world: World
    cfg: dict[str, Any]
    tmp: Path
    procs: list[subprocess.Popen] = field(default_factory=list)


def pg_name_or_none(sqlite: bool, name: str) -> str | None:
    """The bench's PostgreSQL database name, or None (SQLite) if asked or none is reachable."""
    return None if sqlite or not pg_available() else name


@contextmanager
def bench_run(prefix: str, pg_name: str | None = None, config: dict[str, Any] | None = None,
              **world_args: Any):  # fmt: skip
    """The set-up and teardown every bench shares: a temp dir, a fresh database (PostgreSQL
    ``pg_name``, else SQLite in the temp dir), the bench Redis db flushed, the app, and the
    simulators (``start_world(**world_args)``)."""
    with temp_dir(prefix) as tmp:
        url = pg_create(pg_name) if pg_name else f"sqlite:///{tmp / 'bench.db'}"
        flush_redis()
        cfg = bench_config(url, **(config or {}))
        app = make_app(cfg)
        run = BenchRun(app, start_world(app=app, **world_args), cfg, tmp)
        try:
            yield run
        finally:
            teardown(app, run.world, pg_name, procs=run.procs)


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - no server, no role: fall back to SQLite
        return False


def pg_create(name: str) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


def pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- simulators --------------------------------------------------------------------------------


@dataclass
class World:
    """Both simulators (and optionally the portal) served on loopback."""

    bc: Any  # BCSimState
    bindo: Any  # bindo SimState
    bc_url: str
    bindo_url: str
    portal_url: str | None
    servers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for state, closer in ((self.bc, "close"), (self.bindo, "shutdown")):
            with contextlib.suppress(Exception):
                getattr(state, closer)()
        for server in self.servers:
            server.shutdown()


def start_world(
    *,
    quota: int = 150,
    window_ms: int = 30_000,
    app: Any = None,
    serve_portal: bool = False,
    portal_url: str | None = None,
    time_scale: float = 0.001,
    **bc_options: Any,
) -> World:
    """Serve both simulators, point ``app``'s config at them, and serve ``app`` itself when
    ``serve_portal`` (``portal_url`` instead names a portal served elsewhere, e.g. gunicorn)."""
    from sandbox.bigcommerce import BCSimConfig
    from sandbox.bigcommerce import create_app as bc_create_app
    from sandbox.bindo import BindoSimConfig
    from sandbox.bindo import create_app as bindo_create_app
    from sandbox.server import Swappable, serve_in_thread

    wrappers = [Swappable(), Swappable()]
    servers = [serve_in_thread(w) for w in wrappers]
    if serve_portal and app is not None:
        wrappers.append(Swappable())
        servers.append(serve_in_thread(wrappers[2]))
        portal_url = servers[2].url
    bc_url, bindo_url = servers[0].url, servers[1].url
    bc_app = bc_create_app(
        BCSimConfig(
            demo_mode=True,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            app_url=portal_url or "http://127.0.0.1:9",
            time_scale=time_scale,
            rate_limit_quota=quota,
            rate_limit_window_ms=window_ms,
            image_timeout=10.0,
            **bc_options,
        )
    )
    bindo_app = bindo_create_app(BindoSimConfig(public_url=bindo_url, time_scale=time_scale))
    wrappers[0].app, wrappers[1].app = bc_app, bindo_app
    if serve_portal and app is not None:
        wrappers[2].app = app
    if app is not None:
        app.config.update(
            BIGCOMMERCE_API_URL=bc_url,
            BIGCOMMERCE_LOGIN_URL=bc_url,
            BINDO_API_URL=bindo_url,
            APP_URL=portal_url or app.config["APP_URL"],
        )
    return World(
        bc=bc_app.extensions["bcsim"],
        bindo=bindo_app.extensions["bindosim"],
        bc_url=bc_url,
        bindo_url=bindo_url,
        portal_url=portal_url,
        servers=servers,
    )


def start_process(cfg, world: World, log_path: Path, module: str = "worker", *args: str):
    """``python -m <module> <args>`` (a worker, or the clock) against the world's simulators,
    its output in ``log_path``."""
    env = env_from_config(
        {
            **cfg,
            "BIGCOMMERCE_API_URL": world.bc_url,
            "BIGCOMMERCE_LOGIN_URL": world.bc_url,
            "BINDO_API_URL": world.bindo_url,
            "APP_URL": world.portal_url,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )


def link_merchant(
    app, world: World, store_hash: str, multi_storefront: bool | None = None, **settings: Any
):
    """A merchant installed in the BigCommerce simulator and linked to a Bindo store
    (``multi_storefront``: the store's kind; the simulator's default when None)."""
    from portal.extensions import db
    from portal.models import Merchant, MerchantState, utcnow

    bc_store = world.bc.create_store(
        store_hash, weight_units="LBS", multi_storefront=multi_storefront
    )
    bindo_id = f"bindo-{store_hash}"
    token, secret = secrets.token_hex(12), secrets.token_hex(16)
    world.bindo.create_store(
        bindo_id, token, secret, locations=[{"id": BINDO_LOCATION, "name": "Main Street"}]
    )
    with app.app_context():
        merchant = Merchant(
            store_hash=store_hash,
            store_name=f"Store {store_hash}",
            bc_store_id=str(bc_store.store_id),
            state=MerchantState.ACTIVE.value,
            scopes=app.config["BIGCOMMERCE_SCOPES"],
            weight_unit="LBS",
            bc_multi_storefront=bc_store.multi_storefront,
            owner_email="owner@example.com",
            installed_at=utcnow(),
            activated_at=utcnow(),
            bindo_store_id=bindo_id,
            bindo_location_ids=[BINDO_LOCATION],
        )
        merchant.access_token = bc_store.access_token
        merchant.bindo_token = token
        merchant.bindo_webhook_secret = secret
        merchant.hook_secret = secrets.token_urlsafe(24)
        for key, value in settings.items():
            setattr(merchant, key, value)
        db.session.add(merchant)
        db.session.commit()
        return merchant.id


def linked_probe_store(
    app, world: World, store_hash: str, products: int, *, name: str, sku: str
) -> tuple[int, list[tuple[int, int]]]:
    """A linked merchant whose Bindo stock changes and BigCommerce orders reach the portal,
    with ``products`` bound products (bindo id, bc id) that have stock: the store a latency
    probe changes (bench_latency, bench_tenants' idle store)."""
    from portal.extensions import db
    from portal.models import Merchant, ProductBinding
    from sandbox.bigcommerce import catalog as bc_catalog
    from sandbox.bigcommerce import hooks as bc_hooks

    merchant_id = link_merchant(app, world, store_hash)
    with app.app_context():
        hook_secret = db.session.get(Merchant, merchant_id).hook_secret
    bindo_store = f"bindo-{store_hash}"
    world.bindo.subscribe(
        bindo_store, f"{world.portal_url}/webhooks/bindo/{merchant_id}", ["inventory.updated"]
    )
    with world.bc.lock:
        bc_hooks.create_hook(
            world.bc,
            world.bc.store(store_hash),
            {
                "scope": "store/order/created",
                "destination": f"{world.portal_url}/webhooks/bigcommerce",
                "is_active": True,
                "headers": {"X-Bindo-Hook-Secret": hook_secret},
            },
        )
    pairs: list[tuple[int, int]] = []
    for i in range(products):
        product_sku = f"{sku}-{i:04d}"
        with world.bc.lock:
            bc = bc_catalog.create_product(
                world.bc,
                world.bc.store(store_hash),
                {
                    "name": f"{name} product {i}",
                    "type": "physical",
                    "sku": product_sku,
                    "price": 12.5,
                    "weight": 1.0,
                    "inventory_tracking": "product",
                    "inventory_level": 1_000_000,
                },
            )
            # Listed on the storefront, as the merchant's own products are: the simulator's
            # multi-storefront store sells no product that has no channel (issue 15).
            bc_catalog.assign_channels(
                world.bc.store(store_hash), [{"product_id": bc["id"], "channel_id": 1}]
            )
        bindo = world.bindo.create_product(
            bindo_store, image_count=0, name=bc["name"], sku=product_sku
        )
        pairs.append((int(bindo["id"]), int(bc["id"])))
    with app.app_context():
        for bindo_id, bc_id in pairs:
            db.session.add(
                ProductBinding(
                    merchant_id=merchant_id,
                    bindo_product_id=bindo_id,
                    bc_product_id=bc_id,
                    sync_state="synced",
                    image_map={},
                    stock_pushed={"1": 1_000_000},
                    attempts=0,
                )
            )
        db.session.commit()
    return merchant_id, pairs


def create_categories(world: World, store_hash: str, names: Iterable[str]) -> dict[str, int]:
    """Top-level categories in tree 1 of a simulated store; name -> category id."""
    from sandbox.bigcommerce import catalog as bc_catalog

    with world.bc.lock:
        store = world.bc.store(store_hash)
        created, errors = bc_catalog.create_categories(
            world.bc, store, [{"name": n, "parent_id": 0, "tree_id": 1} for n in names]
        )
    if errors:
        raise RuntimeError(f"categories not created: {errors}")
    return {c["name"]: c["category_id"] for c in created}


def category_names(count: int) -> list[str]:
    return [f"Department {i:02d}" for i in range(count)]


def create_bindo_catalog(
    world: World,
    store_hash: str,
    size: int,
    *,
    images: int = 3,
    categories: Sequence[str] = (),
    stock: int | None = None,
) -> list[int]:
    """``size`` products in the merchant's Bindo store; returns their Bindo ids."""
    bindo_id = f"bindo-{store_hash}"
    ids = []
    for i in range(size):
        fields: dict[str, Any] = {
            "name": f"Bench product {store_hash} {i:06d}",
            "description": f"<p>Benchmark product number {i}.</p>",
            "price": f"{(i % 500) + 9.99:.2f}",
            "sku": f"{store_hash.upper()}-{i:06d}",
            "custom_attributes": [{"name": "Weight", "value": f"{(i % 20) + 1} lb"}],
        }
        if categories:
            fields["category"] = categories[i % len(categories)]
        product = world.bindo.create_product(
            bindo_id,
            image_count=images,
            image_base_url=world.bindo_url,
            stock={BINDO_LOCATION: stock} if stock is not None else None,
            **fields,
        )
        ids.append(int(product["id"]))
    return ids


def checkout(world: World, store_hash: str, bc_product_id: int, n: int, name: str) -> str:
    """A shopper's order of one ``bc_product_id`` on the BigCommerce simulator (shopper ``n``);
    returns the order's external reference, as the import writes it into Bindo."""
    from shared.mapping import external_reference

    resp = requests.post(
        f"{world.bc_url}/_sim/stores/{store_hash}/checkout",
        json={
            "email": f"{store_hash}{n}@example.com",
            "first_name": name,
            "last_name": f"Shopper{n}",
            "products": [{"product_id": bc_product_id, "quantity": 1}],
        },
        timeout=10,
    )
    resp.raise_for_status()
    return external_reference(store_hash, int(resp.json()["id"]))


def request_log(world: World, store_hash: str) -> list[dict[str, Any]]:
    with world.bc.requests._lock:  # noqa: SLF001 - the simulator's own log, read-only
        return [e for e in world.bc.requests.entries if e["store_hash"] == store_hash]


@dataclass
class Traffic:
    """Requests one store made between two marks of the simulator's request log."""

    requests: int
    limited: int  # 429s
    by_endpoint: dict[str, int]
    first: float | None
    last: float | None


def traffic_since(world: World, store_hash: str, start_index: int) -> Traffic:
    rows = request_log(world, store_hash)[start_index:]
    by_endpoint: dict[str, int] = {}
    for row in rows:
        key = f"{row['method']} {row['endpoint']}"
        by_endpoint[key] = by_endpoint.get(key, 0) + 1
    limited = sum(1 for r in rows if r["status"] == 429)
    return Traffic(
        requests=len(rows) - limited,
        limited=limited,
        by_endpoint=by_endpoint,
        first=rows[0]["time"] if rows else None,
        last=rows[-1]["time"] if rows else None,
    )
