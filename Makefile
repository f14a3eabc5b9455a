# make serve: run cellstore on http://127.0.0.1:8000 with its data in ./data
# make test:  run the whole test suite
# Both create .venv with python3 (>= 3.11) if it is missing and reinstall the
# project only when pyproject.toml (or the venv) changed, so re-runs are quiet.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: serve test

serve: .make-install.stamp
	$(BIN)/cellstore serve --host 127.0.0.1 --port 8000 --data-dir ./data

test: .make-test.stamp
	$(BIN)/python -m pytest

$(VENV)/pyvenv.cfg:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "cellstore needs $(PYTHON) >= 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

.make-install.stamp: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) install -e .
	@touch $@

.make-test.stamp: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) install -e '.[test]'
	@touch $@ .make-install.stamp
