# The same commands run here and in CI (.ci/run calls `make test`).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install (and so recompile the .pyx modules) whenever one of these changes.
BUILT_FROM := pyproject.toml setup.py riskwatch/object_slots.pxi detectors/cpython_ints.pxi detectors/fold.pyx detectors/blob_pack.pyx detectors/entity_batch.pyx detectors/feature_values.pyx detectors/resp.pyx riskwatch/plain_record.pyx
STAMP := $(VENV)/.installed-$(shell cat $(BUILT_FROM) | sha1sum | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help install services demo test lint format bench bench-rules bench-sim bench-cases eval bench-state bench-hotpath bench-cluster clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): $(BUILT_FROM)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP) ## create the virtualenv and install riskwatch with its test tools

services: ## install what the tests start that PyPI lacks (PostgreSQL, Chromium), if missing
	@scripts/ensure-services.sh

demo: $(STAMP) ## run the whole system on embedded defaults, then serve the case queue's UI
	$(BIN)/riskwatch demo

test: $(STAMP) services ## lint, then the whole suite (it starts every service it needs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP) ## ruff checks only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## throughput: trivial flow vs parsing vs the monitor (JSON + table)
	$(BIN)/python -m bench.throughput

bench-rules: $(STAMP) ## rule evaluation: µs per event for 30 rules, against a plain Python baseline
	$(BIN)/python -m bench.rules

bench-sim: $(STAMP) ## simulator speed to a file, beside an orjson baseline (JSON + table)
	$(BIN)/python -m bench.simulator

bench-cases: $(STAMP) ## case store alerts/s and queue ms, against a bare insert and select
	$(BIN)/python -m bench.case_store

eval: $(STAMP) ## the whole monitor over Handbook-mode traffic (one process per core, up to 2), against its baselines
	$(BIN)/riskwatch evaluate

bench-state: $(STAMP) ## state and feature layer: rates, hot path, Redis bytes per customer
	$(BIN)/python -m bench.state

bench-hotpath: $(STAMP) ## parse and build_features: CPU µs and callgrind instructions per event
	$(BIN)/python -m bench.hotpath --callgrind-events 1000

bench-cluster: $(STAMP) ## the monitor's routing on one and two processes: CPU of crossing between them
	$(BIN)/python -m bench.cluster

clean: ## remove the virtualenv, local output and build products
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis build riskwatch.egg-info
	rm -f detectors/fold.c detectors/fold.*.so detectors/blob_pack.c detectors/blob_pack.*.so detectors/feature_values.c detectors/feature_values.*.so detectors/resp.c detectors/resp.*.so riskwatch/plain_record.c riskwatch/plain_record.*.so
