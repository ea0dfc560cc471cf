# The two commands: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help run test lint format deps system-deps clean

help:
	@echo "make run    start Postgres, Redis, the three services and nginx on http://127.0.0.1:$${INGRESS_PORT:-8080}"
	@echo "make test   lint, type-check and run every test against real Postgres, Redis and nginx"
	@echo "make lint   ruff + mypy only; make format rewrites the code style"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

system-deps:
	@scripts/install-system-deps.sh

deps: $(INSTALLED) system-deps

run: deps
	$(BIN)/python -m devstack run

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs services devstack tests

test: deps lint
	$(BIN)/python -m pytest

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache
