# Yibao: the two commands are `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_LINK_MODE := copy
# Cached bytecode: without it every service, worker and migration process compiles its imports
# from source at start (about 3 s of CPU each; a test run starts well over a hundred). Some
# environments set PYTHONDONTWRITEBYTECODE; the virtualenv is compiled at install instead.
unexport PYTHONDONTWRITEBYTECODE
export UV_COMPILE_BYTECODE := 1

ROLE ?= ops
SUB ?=
INST ?=

.PHONY: help install run stop token test lint typecheck imports asyncapi-check unit integration docs bench replay clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@echo "==> installing Python dependencies into $(VENV) (locked by uv.lock)" >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" >&2
	@$(BIN)/uv sync --frozen --quiet >&2
	@touch $@

install: $(VENV)/.synced ## create the virtualenv from the lock file

run: install ## bring up PostgreSQL, Kafka, every service and worker, with demo data (Ctrl-C stops)
	@$(BIN)/python -m devstack run

stop: install ## stop a stack that `make run` started
	@$(BIN)/python -m devstack stop

token: install ## print a development token: make token ROLE=hospital [SUB=id] [INST=code]
	@$(BIN)/python -m devstack token --role "$(ROLE)" $(if $(SUB),--sub "$(SUB)") $(if $(INST),--inst "$(INST)")

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy (strict on shared/)
	$(BIN)/mypy shared services devstack bench tests

imports: install ## import rules: services never import each other; shared never imports a service
	$(BIN)/lint-imports

asyncapi-check: install ## the AsyncAPI document matches the event contracts
	$(BIN)/python -m shared.events.asyncapi --check docs/events/asyncapi.json

docs: install ## regenerate docs/events/asyncapi.json from the event contracts
	$(BIN)/python -m shared.events.asyncapi docs/events/asyncapi.json

unit: install ## unit tests only (no PostgreSQL, no Kafka)
	$(BIN)/pytest tests/unit -q

test: lint typecheck imports asyncapi-check ## every gate, then the whole suite on real PostgreSQL and Kafka
	$(BIN)/pytest -q -ra

bench: install ## benchmarks; figures in var/bench/<name>.json (one by name: make bench BENCH=settlement)
	$(BIN)/python -m bench $(BENCH)

replay: install ## replay dead letters or published outbox rows: make replay ARGS="dlq claim.settled.dlq --dry-run" (docs/operations.md)
	@$(BIN)/python -m shared.events.replay $(ARGS)

clean: stop ## stop everything and delete var/ (data, logs, caches)
	rm -rf var
