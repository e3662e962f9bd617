# Two entry points for a fresh machine: `make canary` (the main job) and `make test` (the whole suite).
# Each creates .venv and installs the project into it when missing or when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
REPORTS := reports
PYTEST_WORKERS ?= 2

.PHONY: canary test lint typecheck emulators demo bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## The main job: canaries on the embedded demo warehouse (built on first use), with HTML, JUnit and JSON reports.
canary: $(STAMP)
	@mkdir -p $(REPORTS)
	$(BIN)/pytest -m canary \
		--html=$(REPORTS)/canary.html --self-contained-html \
		--junitxml=$(REPORTS)/canary-junit.xml \
		--resilience-json=$(REPORTS)/canary-results.jsonl

## The whole test suite: lint, types, then the suite's own tests (BigQuery paths against the local emulator).
test: $(STAMP) emulators lint typecheck
	$(BIN)/pytest tests -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

emulators:
	@bash scripts/setup-bigquery-emulator.sh

demo: $(STAMP)
	$(BIN)/resilience demo build

bench: $(STAMP)
	$(BIN)/python bench/canary_bench.py

clean:
	rm -rf $(VENV) .resilience $(REPORTS) .pytest_cache .mypy_cache .ruff_cache
