# convtrack — the commands a developer and CI use. `make demo` and `make test` work on a
# fresh machine with Python 3.11 and make: the first call creates .venv and installs.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo up test lint typecheck proto-lint gen gen-check unit integration e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/convtrack demo

up: $(STAMP)
	$(BIN)/convtrack up

gen: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

gen-check: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

proto-lint: $(STAMP)
	$(BIN)/buf lint

test: gen-check lint typecheck proto-lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
