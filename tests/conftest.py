"""Shared fixtures: an app on SQLite (default) or PostgreSQL (TEST_DATABASE_URL), real Redis."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from flask.globals import _cv_app
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
SECRET_KEY = "test-secret-key-" + "x" * 32
TOKEN_KEY = Fernet.generate_key().decode()


FULL_SCENARIOS = os.environ.get("FULL_SCENARIOS") == "1"
# Fixtures that start real worker processes (or a private redis-server): such a test is
# marked ``heavy``. `make test` runs heavy tests once, on PostgreSQL (the production
# database), and browser tests once, on SQLite; every other test runs on both.
HEAVY_FIXTURES = frozenset({"worker_process", "own_redis"})


def pytest_collection_modifyitems(config, items):
    """Every test that uses the app database is marked ``db`` (run again on PostgreSQL);
    tests with real workers ``heavy``; ``full_only`` tests are skipped unless FULL_SCENARIOS=1."""
    skip = pytest.mark.skip(reason="long scenario: run with FULL_SCENARIOS=1")
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if {"app", "db_session", "client"} & fixtures:
            item.add_marker(pytest.mark.db)
        if HEAVY_FIXTURES & fixtures:
            item.add_marker(pytest.mark.heavy)
        if item.get_closest_marker("full_only") and not FULL_SCENARIOS:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _quick_password_hashing(request, monkeypatch) -> None:
    """argon2 at the production cost takes about 160 ms per hash and as long per check, paid on
    every staff sign-in of every test. Tests hash at the lowest cost argon2 allows; a test
    marked ``real_password_hashing`` (the timing test, the cost check) keeps the real one."""
    if request.node.get_closest_marker("real_password_hashing"):
        return
    import portal.auth

    monkeypatch.setattr(portal.auth, "_hasher", QUICK_HASHER)
    monkeypatch.setattr(portal.auth, "_DUMMY_HASH", QUICK_DUMMY_HASH)


QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
QUICK_DUMMY_HASH = QUICK_HASHER.hash("not-a-real-password")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def base_config(database_url: str, **extra) -> dict:
    cfg = {
        "APP_ENV": "test",
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": SECRET_KEY,
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "BIGCOMMERCE_CLIENT_ID": "test-client-id",
        "BIGCOMMERCE_CLIENT_SECRET": "test-client-secret-of-32-bytes-min",
        "APP_URL": "http://localhost",
        "SERVER_NAME": None,
    }
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="session")
def app_config(database_url) -> dict:
    return base_config(database_url)


@pytest.fixture(scope="session")
def _app(app_config):
    from portal import create_app
    from portal.extensions import db

    app = create_app(dict(app_config))
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def _clean(app) -> None:
    from portal.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            with db.engine.begin() as conn:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    conn = Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def app(_app, redis_conn):
    """The app with empty tables and an empty Redis test db; an app context is pushed."""
    _clean(_app)
    ctx = _app.app_context()
    ctx.push()
    yield _app
    from portal.extensions import db

    db.session.remove()
    ctx.pop()


class IsolatedClient(FlaskClient):
    """Each request gets a fresh ``g`` even though the test keeps an app context pushed
    (Flask reuses an outer app context, and with it ``g``, for requests in tests)."""

    def open(self, *args, **kwargs):
        ctx = _cv_app.get(None)
        if ctx is None:
            return super().open(*args, **kwargs)
        saved = ctx.g
        ctx.g = self.application.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            ctx.g = saved


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf token in page"
    return match.group(1)


def make_staff(
    email: str = "admin@bindo.test", role: str = "admin", password: str = "correct horse battery"
):
    from portal.auth import hash_password
    from portal.extensions import db
    from portal.models import StaffUser

    user = StaffUser(email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    db.session.commit()
    return user


def login(client, email: str = "admin@bindo.test", password: str = "correct horse battery"):
    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def staff_client(client):
    """A test client signed in as an admin."""
    make_staff()
    response = login(client)
    assert response.status_code == 302
    return client


class WorkerProcess:
    """A real ``python -m worker`` (or ``-m worker.clock``) subprocess against the test
    database and Redis. ``supervise`` restarts it whenever it exits on its own, as the process
    manager does in production."""

    def __init__(
        self,
        env: dict[str, str],
        args: list[str] | None = None,
        module: str = "worker",
        supervise: bool = False,
    ) -> None:
        self.env = env
        self.args = args or []
        self.module = module
        self.supervise = supervise
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(env.get("WORKER_LOG", "/tmp/worker-test.log"))
        self._stopping = threading.Event()
        self.groups: list[int] = []  # the process group of every process spawned

    def _spawn(self) -> None:
        # Its own process group, so that stopping it also ends its work horses and RQ's
        # scheduler (a horse orphaned by a worker that quit or was killed would otherwise read
        # the database during the next test's TRUNCATE: a deadlock seen in CI).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.groups.append(self.proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            if self.proc is not None and self.proc.poll() is not None:
                self.restarts += 1
                self._spawn()

    def start(self) -> WorkerProcess:
        self.log = self.log_path.open("ab")
        self._spawn()
        if self.supervise:
            threading.Thread(target=self._watch, daemon=True).start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        time.sleep(0.6 if self.supervise else 0)  # the watcher has seen the flag
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for group in self.groups:  # what outlived its worker: horses, the scheduler
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.log.close()


def worker_env(app_config, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "TOKEN_ENCRYPTION_KEY",
        "BIGCOMMERCE_CLIENT_ID",
        "BIGCOMMERCE_CLIENT_SECRET",
        "APP_URL",
        "BIGCOMMERCE_API_URL",
        "BIGCOMMERCE_LOGIN_URL",
        "BINDO_API_URL",
    ):
        env[key] = str(app_config[key])
    env["APP_ENV"] = "test"
    env.update(extra)
    return env


@pytest.fixture
def worker_process(app, app_config, tmp_path):
    """Start real workers on demand; all are stopped at the end of the test.

    The first worker of a test (unless ``--burst``) also starts the one clock process, whose
    relay queues the inbox rows' jobs; ``--no-ticker`` means a clock without the tick (no
    periodic work). ``supervise=True`` restarts a worker that exits on its own.
    """
    started: list[WorkerProcess] = []

    def start(*args: str, supervise: bool = False, **env: str) -> WorkerProcess:
        args_list = [a for a in args if a != "--no-ticker"]
        if "--burst" not in args_list and not any(p.module == "worker.clock" for p in started):
            clock_env = {**env, "WORKER_LOG": str(tmp_path / "clock.log")}
            clock_args = ["--no-tick"] if "--no-ticker" in args else []
            clock = WorkerProcess(worker_env(app.config, **clock_env), clock_args, "worker.clock")
            started.append(clock.start())
        env.setdefault("WORKER_LOG", str(tmp_path / f"worker{len(started)}.log"))
        proc = WorkerProcess(worker_env(app.config, **env), args_list, supervise=supervise)
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# Both simulators over HTTP, wired to the test app (see tests/stack.py).
from tests.stack import _servers, stack  # noqa: E402, F401
