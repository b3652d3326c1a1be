# Two commands: `make run` (set up, then serve on SQLite) and `make test` (set up, then lint,
# type-check and test). Both create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test install browser lint typecheck pytest bench screenshots clean

$(STAMP): pyproject.toml clients/python/pyproject.toml tests/cards/package-lock.json tests/browser/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "opslayer needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# Both distributions, editable: the agent SDK (opslayer-client) and the bot (opslayer).
	$(BIN)/pip install --quiet -e ./clients/python -e '.[dev]'
	@# Microsoft's Adaptive Cards library checks the Teams cards in the tests (Node.js only
	@# for that; without npm those checks are skipped, and CI fails them).
	@# Likewise axe-core, which the browser tests run inside the console's pages.
	@if command -v npm >/dev/null; then \
		(cd tests/cards && npm ci --silent --no-audit --no-fund) && \
		(cd tests/browser && npm ci --silent --no-audit --no-fund); \
	else echo "note: npm not found; card and accessibility checks will skip"; fi
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/opslayer serve

# opslayer with simulated agents producing every situation; prints a sign-in link.
demo: install
	$(BIN)/opslayer demo

# The browser tests drive Debian's chromium (Playwright's own download cannot work here).
browser:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || \
			(apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null); \
		else sudo apt-get install -y -q chromium >/dev/null; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install browser
	$(BIN)/pytest -q

# Retake the README's screenshots of the console (docs/screenshots/) with the browser tests.
screenshots: install browser
	OPSLAYER_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser -k inbox

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
