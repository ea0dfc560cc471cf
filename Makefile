# The two commands: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help run test lint audit format deps system-deps clean lock images secrets deploy postman bench

help:
	@echo "make run    start Postgres, Redis, the three services and nginx on http://127.0.0.1:$${INGRESS_PORT:-8080}"
	@echo "make test   lint, type-check and run every test against real Postgres, Redis and nginx"
	@echo "make lint   ruff, mypy and the dependency audit; make format rewrites the code style"
	@echo "make audit  every locked dependency against the known vulnerabilities (pip-audit)"
	@echo "make lock   re-lock requirements/*.txt from pyproject.toml (with hashes)"
	@echo "make images build the three service images (docker, or inside minikube)"
	@echo "make secrets fill deploy/base/secrets.env with random values (kept if present)"
	@echo "make deploy images + secrets + kubectl apply -k deploy/ingress"
	@echo "make postman run the Postman collection with newman against BASE_URL (the local stack)"
	@echo "make bench  start a stack on port base 32000, seed it, load it with wrk, print one table (BENCH_ARGS=...)"

# The locked, hash-checked dependencies first; then the project itself, without
# resolving anything again.
$(INSTALLED): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

system-deps:
	@scripts/install-system-deps.sh

deps: $(INSTALLED) system-deps

run: deps
	$(BIN)/python -m devstack run

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs services devstack tests bench scripts
	$(BIN)/python scripts/audit.py

# pip-audit over requirements/*.txt; accepted findings, each with its reason, are
# in requirements/audit-exceptions.toml (see scripts/audit.py).
audit: $(INSTALLED)
	$(BIN)/python scripts/audit.py

test: deps lint
	$(BIN)/python -m pytest

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

LOCK := $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 -q

lock: $(INSTALLED)
	$(LOCK) --extra dev -o requirements/dev.txt
	$(LOCK) --extra auth -o requirements/auth.txt
	$(LOCK) --extra ledger -o requirements/ledger.txt
	$(LOCK) --extra db-gateway -o requirements/db-gateway.txt

images:
	scripts/build-images.sh

secrets:
	scripts/make-secrets.sh

deploy: images secrets
	kubectl apply -k deploy/ingress

postman: $(INSTALLED)
	scripts/newman.sh $${BASE_URL:-http://127.0.0.1:$${INGRESS_PORT:-8080}}

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache

# Measures, optimises nothing: its own stack (.devstack/bench), seeded, driven with
# wrk, with the ceilings measured in the same run; results in bench/results/.
# Options: make bench BENCH_ARGS="--repeat 3 --workers 2 --replicas auth=2,ledger=2"
bench: $(INSTALLED) system-deps
	$(BIN)/python -m bench $(BENCH_ARGS)
