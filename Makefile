# datamgr: every target sets up what it needs, starting from python3 and make alone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
HISTORY   = history_data/history_database.parquet
INFERENCE = data/01_raw/inference_data.parquet
DATAMGR   = $(BIN)/datamgr

FARM           = $(DATAMGR) --config config/farm.yml
FARM_HISTORY   = history_data/farm_history.parquet
FARM_INFERENCE = data/01_raw/farm_inference.parquet

.PHONY: install data run run-farm test test-wheel lint bench clean help postgres-server chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP) ## create .venv and install datamgr with its dev tools

$(HISTORY) $(INFERENCE) &: | $(STAMP)
	$(DATAMGR) sample-data

data: $(HISTORY) $(INFERENCE) ## generate the sample SCADA files (deterministic)

run: $(STAMP) $(HISTORY) $(INFERENCE) ## the main job end to end on the default SQLite store
	$(DATAMGR) init-db
	$(DATAMGR) ingest $(INFERENCE)
	$(DATAMGR) last-n 5
	$(DATAMGR) range --start '2007-07-29 03:10:00' --end '2007-07-29 04:00:00'
	$(DATAMGR) train
	$(DATAMGR) predict --batch-size 32 --format csv

$(FARM_HISTORY) $(FARM_INFERENCE) &: | $(STAMP)
	$(FARM) sample-data --turbines 4 --inference-path $(FARM_INFERENCE)

run-farm: $(STAMP) $(FARM_HISTORY) $(FARM_INFERENCE) ## a farm of four turbines from a vendor export, end to end (config/farm.yml)
	$(FARM) init-db
	$(FARM) ingest $(FARM_INFERENCE)
	$(FARM) turbines
	$(FARM) last-n 2 --format csv
	$(FARM) train
	$(FARM) predict --start '2008-07-01 00:00:00' --end '2008-07-28 23:50:00'
	$(FARM) predict --batch-size 32 --format csv

# The backend tests start their own PostgreSQL server (initdb, pg_ctl) in a temporary folder.
# Install the server from the distribution when it is missing and we may; otherwise those
# tests are skipped, and pytest prints why.
postgres-server:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the PostgreSQL server for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	else echo "no PostgreSQL server binaries here: the PostgreSQL tests will be skipped"; fi

# The report's screenshot test renders the HTML report in headless Chromium (Debian's package).
# Install it when missing and we may; otherwise that test is skipped, and pytest prints why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the report's screenshot test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "no chromium here: the report's screenshot test will be skipped"; fi

test: $(STAMP) postgres-server chromium ## run the test suite on SQLite and on a throw-away PostgreSQL server
	$(BIN)/python -m pytest -q

test-wheel: $(STAMP) ## build the wheel, install it in a fresh venv outside the repo, run the pipeline with it
	$(BIN)/python -m pytest -q -m wheel tests/test_wheel.py

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check datamgr migrations tests benchmarks
	$(BIN)/ruff format --check datamgr migrations tests benchmarks
	$(BIN)/mypy datamgr migrations tests benchmarks

bench: $(STAMP) postgres-server ## benchmarks (not part of test): a table of figures and ratios; BENCH_ARGS='--also farm-train' adds training 100 turbines (~30 min)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean: ## remove the environment and generated files (never the database)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
