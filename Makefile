# keten: two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KETEN_HOME ?= ./.keten
HOST ?= 127.0.0.1
PORT ?= 8000
export KETEN_HOME

.PHONY: install run test lint bench clean neo4j-up neo4j-down

$(BIN)/keten: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/keten

install: $(BIN)/keten

run: install
	$(BIN)/keten init
	$(BIN)/keten serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check keten tests bench
	$(BIN)/ruff format --check keten tests bench
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -q

bench: install
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
