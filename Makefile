# Quick start: `make demo` and `make test` work on a fresh clone with nothing prepared.
# The recorded dependency versions (constraints*.txt) are for Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
# The newest Airflow the provider is tested on (constraints.txt), used by `make demo` and `make bench`.
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The oldest Airflow the provider supports, the Amazon provider's own lower bound: `make test` runs
# the suite on it too, in its own virtualenv, from its own recorded versions.
AIRFLOW_OLDEST := 2.11
VENV_OLDEST := .venv-airflow2
BIN_OLDEST := $(VENV_OLDEST)/bin
CONSTRAINTS_OLDEST := constraints-airflow-$(AIRFLOW_OLDEST).txt
INSTALLED_OLDEST := $(VENV_OLDEST)/.installed
UV_COMPILE := pip compile pyproject.toml --extra dev --python-version 3.11 --no-header --no-annotate
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags

.PHONY: install install-oldest demo test test-newest test-oldest lint lock bench clean

install: $(INSTALLED)

install-oldest: $(INSTALLED_OLDEST)

# $(1): the virtualenv; $(2): the recorded versions it is built from.
define build-venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -c $(2) -e ".[dev]"
	touch $@
endef

# Reinstall whenever the project or its recorded dependency versions change.
$(INSTALLED): pyproject.toml constraints.txt airflow_entityresolution/__init__.py
	$(call build-venv,$(VENV),constraints.txt)

$(INSTALLED_OLDEST): pyproject.toml $(CONSTRAINTS_OLDEST) airflow_entityresolution/__init__.py
	$(call build-venv,$(VENV_OLDEST),$(CONSTRAINTS_OLDEST))

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

# Every test on the newest Airflow, then on the oldest; `make -k test` runs the second after a failed first.
test: test-newest test-oldest

test-newest: $(INSTALLED)
	$(BIN)/ruff check airflow_entityresolution tests example_dags scripts benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

# -rs: the summary names what this Airflow skips, and why.
test-oldest: $(INSTALLED_OLDEST)
	$(BIN_OLDEST)/python -m pytest -rs

# Side-by-side measurements against the Amazon-provider-style baseline; rewrites BENCHMARKS.md.
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

lint: $(INSTALLED)
	$(BIN)/ruff check airflow_entityresolution tests example_dags scripts benchmarks
	$(BIN)/mypy

# Pins the tested dependency sets, newest and oldest; run after changing dependencies in pyproject.toml.
# The oldest is the same resolution with Airflow held to its oldest supported minor version.
lock:
	$(BIN)/uv $(UV_COMPILE) -o constraints.txt
	echo "apache-airflow==$(AIRFLOW_OLDEST).*" | $(BIN)/uv $(UV_COMPILE) -c - -o $(CONSTRAINTS_OLDEST)

clean:
	rm -rf $(VENV) $(VENV_OLDEST) .airflow .pytest_cache
