# Two commands: `make run` (set up, then serve on SQLite) and `make test` (set up, then lint,
# type-check and test). Both create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck pytest bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml tests/cards/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "opslayer needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# Both distributions, editable: the agent SDK (opslayer-client) and the bot (opslayer).
	$(BIN)/pip install --quiet -e ./clients/python -e '.[dev]'
	@# Microsoft's Adaptive Cards library checks the Teams cards in the tests (Node.js only
	@# for that; without npm those checks are skipped, and CI fails them).
	@if command -v npm >/dev/null; then cd tests/cards && npm ci --silent --no-audit --no-fund; \
	else echo "note: npm not found; Teams card checks with the adaptivecards library will skip"; fi
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/opslayer serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
