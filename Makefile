# Developer entry points. `make help` lists them.
#
# Pass extra arguments with ARGS, e.g.  make test ARGS="-k outbox -x"
#                                       make run ARGS="--port 8081"

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MARKER := $(VENV)/.installed
# tests/ may not exist yet; ruff fails on missing paths.
LINT_PATHS := src $(wildcard tests)
# Per-test timeout for the long fuzz/soak runs (the default in pyproject is 300s).
LONG_TIMEOUT ?= 3600
ARGS ?=

.PHONY: help venv run test lint fmt bench fuzz soak schemas clean

help: ## Show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(MARKER): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev,bench,tryton]'
	@touch $@

venv: $(MARKER) ## Create .venv and install the project with dev, bench and tryton extras

run: $(MARKER) ## Run the hub on examples/northwind (SQLite under ./var), with a local Tryton when installed
	$(BIN)/python -m crossdock.devtools.launch $(ARGS)

test: $(MARKER) ## Run pytest against a throwaway PostgreSQL (scripts/test.sh)
	scripts/test.sh $(ARGS)

lint: $(MARKER) ## ruff, mypy and import-linter
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy src
	$(BIN)/lint-imports

fmt: $(MARKER) ## Format and autofix with ruff
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(MARKER) ## Run benchmarks against a throwaway PostgreSQL
	scripts/with-postgres.sh var/bench-pg CROSSDOCK_BENCH_POSTGRES_URL --port 55532 -- \
		$(BIN)/crossdock bench $(ARGS)

fuzz: $(MARKER) ## Long fuzzing run (pytest -m fuzz, CROSSDOCK_LONG=1)
	CROSSDOCK_LONG=1 CROSSDOCK_ALLOW_NO_TESTS=1 CROSSDOCK_TEST_PG_DIR=var/fuzz-pg CROSSDOCK_TEST_PG_PORT=55632 \
		scripts/test.sh -m fuzz --timeout=$(LONG_TIMEOUT) $(ARGS)

soak: $(MARKER) ## Soak run (pytest -m soak, CROSSDOCK_LONG=1)
	CROSSDOCK_LONG=1 CROSSDOCK_ALLOW_NO_TESTS=1 CROSSDOCK_TEST_PG_DIR=var/soak-pg CROSSDOCK_TEST_PG_PORT=55732 \
		scripts/test.sh -m soak --timeout=$(LONG_TIMEOUT) $(ARGS)

schemas: $(MARKER) ## Regenerate schemas/ (JSON Schemas of the event catalogue) from the models
	$(BIN)/python scripts/generate-schemas

clean: ## Remove generated files (keeps .venv)
	@for d in var/*-pg; do [[ -d "$$d" ]] && scripts/postgres.sh stop "$$d" || true; done
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache build dist
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
