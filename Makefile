# convtrack — the commands a developer and CI use. `make demo` and `make test` work on a
# fresh machine with Python 3.11 and make: the first call creates .venv and installs.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo up test lint dockerfile-lint typecheck proto-lint gen gen-check unit integration e2e bench image image-smoke k8s-smoke clean

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

dockerfile-lint: $(STAMP)
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

proto-lint: $(STAMP)
	$(BIN)/buf lint

test: gen-check lint dockerfile-lint typecheck proto-lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench

# The container image convtrack:<version>; needs dockerd (docs/deploy.md, "Building the image").
image: $(STAMP)
	PYTHON=$(BIN)/python scripts/build-image.sh

image-smoke: $(STAMP)
	PYTHON=$(BIN)/python scripts/image-smoke.sh

# The production overlay's containers with docker on one machine (docs/deploy.md).
k8s-smoke: $(STAMP)
	$(BIN)/python scripts/k8s-smoke.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data build
