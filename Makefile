# The two commands a newcomer runs (see README.md): `make demo` and `make test`.
# Everything is installed into .venv from this project's own files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo serve test lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/creditkit demo

serve: $(INSTALLED)
	$(BIN)/creditkit serve

test: $(INSTALLED)
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src

bench: $(INSTALLED)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) creditkit-demo.db creditkit-demo.db-wal creditkit-demo.db-shm creditkit.db creditkit.db-wal creditkit.db-shm
