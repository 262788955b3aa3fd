# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv, install the package with its test extras and make sure the
# servers they need (mosquitto, redis-server, chromium) are installed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

.PHONY: packages
packages:
	./scripts/ensure-packages

demo: $(STAMP) packages
	$(BIN)/tracseq-edge demo

test: $(STAMP) packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP) packages
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
