"""Configuration: documented defaults, refusal in production, nothing at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portal.config import ConfigError, load_config


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"APP_ENV": "production", "TOKEN_ENCRYPTION_KEY": "k"})


def test_production_refuses_to_start_without_an_encryption_key(monkeypatch):
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEY"):
        load_config({"APP_ENV": "production", "SECRET_KEY": "s" * 40})


def test_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="32"):
        load_config({"SECRET_KEY": "short"})


def test_defaults_are_documented_values(monkeypatch):
    for key in ("REDIS_URL", "BIGCOMMERCE_API_URL", "BIGCOMMERCE_LOGIN_URL"):
        monkeypatch.delenv(key, raising=False)
    cfg = load_config({"SECRET_KEY": "s" * 40, "TOKEN_ENCRYPTION_KEY": "k"})
    assert cfg["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert cfg["BIGCOMMERCE_API_URL"] == "https://api.bigcommerce.com"
    assert cfg["BIGCOMMERCE_LOGIN_URL"] == "https://login.bigcommerce.com"


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:1/2")
    cfg = load_config({"SECRET_KEY": "s" * 40, "TOKEN_ENCRYPTION_KEY": "k"})
    assert cfg["REDIS_URL"] == "redis://example.invalid:1/2"


def test_job_timings_are_settings_read_from_the_environment(monkeypatch):
    keys = {"SECRET_KEY": "s" * 40, "TOKEN_ENCRYPTION_KEY": "k"}
    for key in ("JOB_RETRY_SECONDS", "ORDER_LOCK_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    cfg = load_config(keys)
    assert cfg["JOB_RETRY_SECONDS"] == [10, 30, 60, 120, 300]
    assert cfg["ORDER_LOCK_SECONDS"] == 60
    monkeypatch.setenv("JOB_RETRY_SECONDS", "2, 6,12")
    monkeypatch.setenv("ORDER_LOCK_SECONDS", "12")
    cfg = load_config(keys)
    assert (cfg["JOB_RETRY_SECONDS"], cfg["ORDER_LOCK_SECONDS"]) == ([2, 6, 12], 12)


def test_importing_the_app_connects_to_nothing():
    # Unreachable services must not matter at import time.
    code = "import wsgi, portal, worker.jobs, portal.models; print('ok')"
    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "SECRET_KEY": "s" * 40,
        "TOKEN_ENCRYPTION_KEY": __import__("cryptography.fernet")
        .fernet.Fernet.generate_key()
        .decode(),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
