# Quick start: `make demo` and `make test` work on a fresh clone with nothing prepared.
# The recorded dependency versions (constraints.txt) are for Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags

.PHONY: install demo test lint lock bench clean

install: $(INSTALLED)

# Reinstall whenever the project or its recorded dependency versions change.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[dev]"
	touch $@

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

test: $(INSTALLED)
	$(BIN)/ruff check airflow_entityresolution tests example_dags scripts benchmarks
	$(BIN)/python -m pytest

# Side-by-side measurements against the Amazon-provider-style baseline; rewrites BENCHMARKS.md.
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

lint: $(INSTALLED)
	$(BIN)/ruff check airflow_entityresolution tests example_dags scripts benchmarks

# Pins the tested dependency set; run after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header --no-annotate -o constraints.txt

clean:
	rm -rf $(VENV) .airflow .pytest_cache
