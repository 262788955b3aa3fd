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

# The dashboard's chart library (uPlot), fetched from the npm registry at set-up and
# served by central itself: nothing is loaded from the internet at run time. `npm ci` also
# installs the dev dependency axe-core, which tests/dashboard injects from node_modules/.
DASHBOARD := central/dashboard
VENDOR := $(DASHBOARD)/static/vendor
$(VENDOR)/.installed: $(DASHBOARD)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js and npm (sudo apt-get install npm); the dashboard needs it once to fetch its chart library" >&2; exit 1; }
	cd $(DASHBOARD) && npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp $(DASHBOARD)/node_modules/uplot/dist/uPlot.esm.js $(DASHBOARD)/node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	touch $@

demo: $(STAMP) packages $(VENDOR)/.installed
	$(BIN)/tracseq-edge demo

test: $(STAMP) packages $(VENDOR)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP) packages $(VENDOR)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
