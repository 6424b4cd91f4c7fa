"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]


def run_flask(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_database_url(database_url, tmp_path):
    if database_url.startswith("postgresql"):
        name = f"migr_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield database_url.rsplit("/", 1)[0] + "/" + name
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'migr.db'}"


@pytest.mark.db
def test_upgrade_from_empty_matches_the_models(fresh_database_url, app_config):
    env = dict(
        os.environ,
        DATABASE_URL=fresh_database_url,
        SECRET_KEY=app_config["SECRET_KEY"],
        TOKEN_ENCRYPTION_KEY=app_config["TOKEN_ENCRYPTION_KEY"],
        APP_ENV="test",
    )
    up = run_flask(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    check = run_flask(env, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
