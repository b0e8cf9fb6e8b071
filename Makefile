# keten: two commands set everything up: `make run` and `make test`.
#   make run    .venv with keten and what serving needs, the reference knowledge base in
#               ./.keten, the API on http://$(HOST):$(PORT)
#   make test   .venv with the dev extras too, the node packages of the Cypher lint test
#               (npm ci), then ruff, mypy and every test
# Each install step runs again only when its inputs (pyproject.toml, package-lock.json) are
# newer than the marker it leaves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KETEN_HOME ?= ./.keten
HOST ?= 127.0.0.1
PORT ?= 8000
export KETEN_HOME

RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
AHEAD := $(VENV)/.compiled-ahead
NODE := node_modules/.package-lock.json

.PHONY: install install-runtime run test lint bench clean neo4j-up neo4j-down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# keten and its runtime dependencies only; a venv that already has the dev extras for this
# pyproject.toml has them too.
$(RUNTIME): pyproject.toml | $(BIN)/python
	@if [ $(DEV) -nt pyproject.toml ]; then echo "$(VENV) already has keten (with the dev extras)"; \
	else echo "$(BIN)/pip install --quiet -e ."; $(BIN)/pip install --quiet -e .; fi
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# What a non-editable install does ahead and a `keten` command would otherwise pay for at
# every start: the search kernels compiled into an extension module (keten.queries.ahead;
# without a C compiler numba's kernels serve, so this never fails the build) and keten's
# bytecode. Redone when the kernels change.
$(AHEAD): keten/queries/kernel.py keten/queries/ahead.py | $(BIN)/python
	$(BIN)/python -m keten.queries.ahead || echo "continuing with numba's kernels"
	$(BIN)/python -m compileall -q keten >/dev/null
	touch $@

# npm ci writes node_modules/.package-lock.json; it is redone when package-lock.json is newer.
$(NODE): package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make test needs Node.js and npm for the Cypher lint test (tests/graph/test_cypher_lint.py); on Debian: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

install: $(DEV) $(AHEAD)

install-runtime: $(RUNTIME) $(AHEAD)

run: $(RUNTIME) $(AHEAD)
	$(BIN)/keten init
	$(BIN)/keten serve --host $(HOST) --port $(PORT)

lint: $(DEV)
	$(BIN)/ruff check keten tests bench notebooks
	$(BIN)/ruff format --check keten tests bench notebooks
	$(BIN)/mypy

test: $(DEV) $(AHEAD) $(NODE) lint
	$(BIN)/pytest -q

bench: $(DEV) $(AHEAD)
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.load_speed
	$(BIN)/python -m bench.cascade

clean: neo4j-down
	rm -rf $(VENV) .keten .pytest_cache .mypy_cache .ruff_cache

# A real Neo4j 5 Community server on 127.0.0.1 (port NEO4J_PORT, default 7687), no Docker:
# eval "$(make neo4j-up)" sets NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD for the Neo4j tests
# (also written to KETEN_HOME/neo4j-dev/env). The first run builds it with Maven.
neo4j-up:
	@bash deploy/neo4j-dev/neo4j-dev.sh up

neo4j-down:
	@bash deploy/neo4j-dev/neo4j-dev.sh down
