# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8501
export JOURNEYS_HOME ?= $(CURDIR)/.journeys

.PHONY: run serve-team audit test lint types unit e2e bench sample clean chromium chromium-if-possible

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	touch $@

# PNG downloads need a Chromium (kaleido drives it); without one the dashboard still starts, PNG buttons off.
# The warm-up waits in the background for the server, then has it run the default page once.
run: $(STAMP) chromium-if-possible
	$(PY) -m journeys.bootstrap
	$(PY) -m journeys.bootstrap --warm http://127.0.0.1:$(PORT) &
	$(PY) -m streamlit run app/main.py --server.port $(PORT) --server.address 127.0.0.1

# A team server: listens on every interface (TEAM_ADDRESS) with sign-in; it refuses to start until sign-in is
# configured (`.venv/bin/journeys users add NAME --role admin`, or an [auth] section in .streamlit/secrets.toml).
TEAM_ADDRESS ?= 0.0.0.0
serve-team: $(STAMP) chromium-if-possible
	$(PY) -m journeys.bootstrap
	$(VENV)/bin/journeys serve --team --port $(PORT) --address $(TEAM_ADDRESS)

# Dependency versions against known advisories (pip-audit asks the PyPI/OSV advisory service: needs the network).
audit: $(DEV_STAMP)
	$(VENV)/bin/pip-audit --progress-spinner off

# Debian's chromium renders PNG downloads and runs the browser tests (`make test` fails without it).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing and we are not root: install Debian's chromium package"; exit 1; fi; fi

chromium-if-possible:
	@$(MAKE) --no-print-directory chromium || echo "No Chromium: the dashboard starts, but PNG downloads are switched off (HTML downloads work)."

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check journeys app tests benchmarks

types: $(DEV_STAMP)
	$(VENV)/bin/mypy

unit: $(DEV_STAMP)
	$(VENV)/bin/pytest -q -m "not e2e" tests

e2e: $(DEV_STAMP) chromium
	$(VENV)/bin/pytest -q -m e2e tests/e2e

test: $(DEV_STAMP) chromium lint types
	$(VENV)/bin/pytest -q tests

# Knobs (see benchmarks/run.py): BENCH_SIZES=1m for a quick run, BENCH_RUNS, BENCH_PEERS=none,
# BENCH_BROWSER=0 (then no Chromium is needed), BENCH_100M=1 (adds 100M events; takes long).
bench: $(DEV_STAMP)
	@if [ "$${BENCH_BROWSER:-1}" != "0" ]; then $(MAKE) --no-print-directory chromium; fi
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .journeys .pytest_cache .mypy_cache .ruff_cache
