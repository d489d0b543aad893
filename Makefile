# Two commands matter: `make run` and `make test`. Everything else is what they depend on.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench sysdeps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# System packages the project needs (a CJK font for labels, poppler for rendering PDFs in tests,
# Chromium for browser tests). Installs only what is missing.
sysdeps:
	@scripts/sysdeps.sh

run: $(STAMP) sysdeps
	$(BIN)/waste-ledger serve

# Lint and types first: a run that fails either fails before the (long) test suite starts.
test: lint sysdeps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ledger labels api tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) instance .pytest_cache
