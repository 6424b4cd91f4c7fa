# Two commands on a fresh machine: `make run` (demo) and `make test` (lint + tests on SQLite and PostgreSQL).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
REDIS_URL ?= redis://127.0.0.1:6379/0
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/bindo_test
TEST_PG_REDIS_URL ?= redis://127.0.0.1:6379/10
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test lint venv check-redis check-postgres migrate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv and install requirements.txt

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt
	@touch $@

check-redis: venv ## say in one line whether Redis answers
	@$(PY) -c "import redis,sys; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null \
	  || { echo "Redis is not reachable at $(REDIS_URL): start it (redis-server --daemonize yes) and run make again."; exit 1; }

check-postgres: venv ## say in one line whether PostgreSQL answers
	@$(PY) -c "import psycopg; psycopg.connect('$(PG_ADMIN_URL)', connect_timeout=3).close()" 2>/dev/null \
	  || { echo "PostgreSQL is not reachable at $(PG_ADMIN_URL): the test suite runs on it too, so start it and run make test again."; exit 1; }

migrate: venv ## apply the database migrations
	@$(VENV)/bin/flask --app wsgi db upgrade

run: check-redis migrate ## the demo: portal, worker, both simulators; Ctrl-C or SIGTERM stops all
	@$(PY) -m sandbox.demo

lint: venv ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The two runs go side by side, each with its own Redis db and pytest temp dir: the PostgreSQL
# run (real workers, timing scenarios) mostly waits, so the SQLite run is niced under it. Its
# output is printed when both are done; either failing fails the target.
test: lint check-redis check-postgres ## lint, then the suite on SQLite and on PostgreSQL
	@$(PY) -c "import psycopg; c = psycopg.connect('$(PG_ADMIN_URL)', autocommit=True); \
	  c.execute('DROP DATABASE IF EXISTS bindo_test WITH (FORCE)'); c.execute('CREATE DATABASE bindo_test'); c.close()"
	@mkdir -p instance; rm -f instance/test-postgresql.log; \
	TEST_DATABASE_URL=$(TEST_PG_URL) TEST_REDIS_URL=$(TEST_PG_REDIS_URL) $(PY) -m pytest -q \
	  -m "db and not browser" -p no:cacheprovider --basetemp=instance/pytest-postgresql \
	  > instance/test-postgresql.log 2>&1 & pg=$$!; trap "kill $$pg 2>/dev/null" INT TERM; \
	echo "PostgreSQL run started (pid $$pg, output in instance/test-postgresql.log); SQLite run:"; \
	nice -n 10 $(PY) -m pytest -q -m "not heavy" --basetemp=instance/pytest-sqlite; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "--- the same suite on PostgreSQL (db and not browser) ---"; cat instance/test-postgresql.log; \
	echo "SQLite run: exit $$sqlite; PostgreSQL run: exit $$postgres"; \
	test $$sqlite -eq 0 -a $$postgres -eq 0

clean: ## remove .venv, instance/ and the caches
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
