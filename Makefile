# make serve: run cellstore on http://127.0.0.1:8000 with its data in ./data;
#             its web console is http://127.0.0.1:8000/console
# make test:  run the whole test suite; its PostgreSQL half starts a throwaway
#             cluster on loopback (tests/pg_cluster.py), installing Debian's
#             postgresql package first if initdb is missing; its client tier
#             (tests/clients) installs the AWS CLI, the JS SDK, kombu and an
#             older botocore under .clients/, with node and npm from Debian;
#             `make lint` (mypy --strict and ruff, settings in pyproject.toml)
#             runs first, so CI fails on a type or lint finding; its browser
#             tests (tests/browser) drive Debian's chromium, installed first
#             by `make browser-tools` (apt-get)
# make chaos: the chaos suite's long mode; its report goes to ./chaos-report
# Both create .venv with python3 (>= 3.11) if it is missing and reinstall the
# project only when pyproject.toml (or the venv) changed, so re-runs are quiet.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: serve test bench bench-smoke bench-backends bench-cells

serve: .make-install.stamp
	@echo "make serve: the API on http://127.0.0.1:8000; the web console on http://127.0.0.1:8000/console (docs/CONSOLE.md)"
	$(BIN)/cellstore serve --host 127.0.0.1 --port 8000 --data-dir ./data

test: lint .make-test.stamp client-tools postgres-tools browser-tools memcached-tools quorum-tools
	@echo "make test: lint passed; now the whole suite (see README.md for its duration and faster subsets); it starts"
	@echo "  - cellstore servers on free loopback ports (tests/conftest.py)"
	@echo "  - a throwaway PostgreSQL cluster on loopback, for every API test on PostgreSQL (tests/pg_cluster.py)"
	@echo "  - local quorum cells (etcd + Patroni + six PostgreSQL nodes) for tests/fault/test_quorum_*.py"
	@echo "  - memcached processes on loopback, for the cache tier's tests (tests/memcached_cluster.py)"
	@echo "  - the client tier: the AWS CLI, the JS SDK, kombu/Celery and botocore 1.33, installed under"
	@echo "    .clients/ on first use (tests/clients)"
	@echo "  - headless Debian chromium, driven by Playwright through the web console (tests/browser)"
	$(BIN)/python -m pytest
	@echo "make test: the served API tests once more, through a three-cell deployment behind the cell router (pytest --cells, docs/CELLS.md)"
	$(BIN)/python -m pytest --cells tests/api -k server -m "not slow" -q

# Zero findings is the bar: mypy's file list and ruff's rules are in pyproject.toml.
.PHONY: lint
lint: .make-test.stamp
	$(BIN)/python -m mypy
	$(BIN)/python -m ruff check

# The client tier (tests/clients) installs its clients itself, each into its own
# environment under .clients/ from the lock files beside its script; what it
# needs from the system is node and npm for the JS SDK (Debian's, as for `make
# bench`) and the venv module, which `make test` has already used for .venv.
.PHONY: client-tools postgres-tools browser-tools memcached-tools quorum-tools
client-tools: npm

# Says where the suite's PostgreSQL comes from; tests/pg_cluster.py itself
# installs Debian's package when it is missing (as root, with apt-get).
postgres-tools:
	@initdb=$$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n 1); \
	initdb=$${initdb:-$$(command -v initdb || true)}; \
	if [ -n "$$initdb" ]; then echo "make test: PostgreSQL for the tests: $$initdb"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: PostgreSQL is not installed; tests/pg_cluster.py will install Debian's postgresql package (apt-get)"; \
	else echo "make test: PostgreSQL is not installed and cannot be (needs root and apt-get): its half of the suite is skipped (fails with CI=true)"; fi

# The browser tests (tests/browser) drive Debian's chromium through Playwright's
# Python package (in the test extra) with executable_path: Playwright never
# downloads a browser of its own.  Without chromium those tests skip, or fail
# with CI=true.
browser-tools:
	@if command -v chromium >/dev/null; then echo "make test: browser for tests/browser: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing Debian's chromium for tests/browser (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "make test: chromium could not be installed: tests/browser is skipped (fails with CI=true)"; \
	else echo "make test: chromium is not installed and cannot be (needs root and apt-get): tests/browser is skipped (fails with CI=true)"; fi
# The cache tier's tests start real memcached processes (Debian's package, which
# has extstore); installed here when missing, and by tests/memcached_cluster.py
# too, so that a bare pytest run gets it as well.
memcached-tools:
	@if command -v memcached >/dev/null || [ -x /usr/bin/memcached ]; then echo "make test: memcached for the cache tests: $$(command -v memcached || echo /usr/bin/memcached)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing Debian's memcached package (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null; }; \
	else echo "make test: memcached is not installed and cannot be (needs root and apt-get): the cache tests are skipped (fail with CI=true)"; fi
# A local quorum cell (`cellstore quorum up`, docs/QUORUM.md) and its fault
# tests need PostgreSQL, etcd (Debian's etcd-server) and Patroni 4 (the quorum
# extra).  Patroni runs as the postgres user when we are root, and that user
# must be able to execute its interpreter, which a venv made from a Python
# under /root is not: so Patroni gets its own venv, .quorum-venv, made from
# Debian's python3 and pinned by constraints.txt.  `cellstore quorum up` looks
# for it there (or --patroni PATH, or CELLSTORE_PATRONI).
QUORUM_PYTHON ?= /usr/bin/python3
QUORUM_VENV := .quorum-venv
quorum-tools:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "installing Debian's postgresql (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@command -v etcd >/dev/null || { echo "installing Debian's etcd-server (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }
	@[ -x $(QUORUM_VENV)/bin/patroni ] || { echo "installing Patroni into $(QUORUM_VENV)"; \
		$(QUORUM_PYTHON) -m venv $(QUORUM_VENV) && \
		$(QUORUM_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -c constraints.txt 'patroni[etcd3]' 'psycopg[binary]'; }

$(VENV)/pyvenv.cfg:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "cellstore needs $(PYTHON) >= 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# constraints.txt locks every package CI installs (pyproject.toml only states
# the ranges cellstore works with); refresh it with `make lock`.  The embedded
# extra (boto3) comes along so that the README's boto3 example runs in .venv
# as written (`.venv/bin/python`), right after `make serve`.
.make-install.stamp: pyproject.toml constraints.txt Makefile $(VENV)/pyvenv.cfg
	$(PIP) install -c constraints.txt -e '.[embedded]'
	@touch $@

.make-test.stamp: pyproject.toml constraints.txt $(VENV)/pyvenv.cfg
	@echo "make test: installing cellstore with its test extras (boto3, pytest, hypothesis, pynamodb, psycopg, playwright) into $(VENV)"
	$(PIP) install -c constraints.txt -e '.[test]'
	@touch $@ .make-install.stamp

.PHONY: lock
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[test,quorum]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^cellstore' > constraints.txt
	rm -rf .lock-venv

# The chaos and abuse suite's long mode (docs/RELIABILITY.md): minutes of kill -9,
# PostgreSQL crashes (when PostgreSQL can be had), hostile clients and fuzzing,
# then a report of figures in chaos-report/ (exit status 1 if a promise broke).
# Parameters: make chaos CHAOS_ARGS="--cycles 200 --duration 600" (see --help).
.PHONY: chaos
chaos: .make-test.stamp
	$(BIN)/python -m tests.fault.chaos $(CHAOS_ARGS)

# Benchmarks against peers (moto, dynalite) and ceilings (bench/README.md):
# installs wrk, node and npm from Debian if missing; the peers themselves go
# under bench/.peers on first use, never into .venv.
bench: .make-install.stamp wrk npm
	$(BIN)/python bench/run.py

bench-smoke: .make-install.stamp wrk
	$(BIN)/python bench/smoke.py

# SQLite against PostgreSQL behind the same server (starts a throwaway cluster).
# SQLite, PostgreSQL and a local quorum cell behind one front end each, interleaved (docs/POSTGRES.md, "Throughput").
bench-backends: .make-test.stamp wrk quorum-tools
	$(BIN)/python bench/backends.py --quorum

# The cell router's own CPU per request (issue 17: at most ~5%), then 1, 2 and 4 cells (docs/CELLS.md).
bench-cells: .make-install.stamp wrk
	$(BIN)/python bench/cells_router.py
	$(BIN)/python bench/cells.py

.PHONY: wrk npm
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

npm:
	@command -v npm >/dev/null || { echo "installing Debian's nodejs and npm (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
