# keten: two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KETEN_HOME ?= ./.keten
HOST ?= 127.0.0.1
PORT ?= 8000
export KETEN_HOME

.PHONY: install run test lint bench clean

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

clean:
	rm -rf $(VENV) .keten .pytest_cache .mypy_cache .ruff_cache
