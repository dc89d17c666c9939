# Quick start: `make demo` and `make test` work on a fresh clone with nothing prepared.
#
# The suite runs in every deployment profile of scripts/profiles.py: each is a recorded lock,
# constraints/<profile>.txt, and a virtualenv, .venvs/<profile>, into which the built wheel is
# installed with those constraints, as a user would install it on that platform.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
PROFILES := $(shell $(PYTHON) scripts/profiles.py names)
# `make demo`, `make bench` and the static checks use the newest profile.
NEWEST := newest
BIN := .venvs/$(NEWEST)/bin
UV := .venvs/tools/bin/uv
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' airflow_entityresolution/__init__.py)
WHEEL := dist/airflow_entityresolution-$(VERSION)-py3-none-any.whl
SOURCES := pyproject.toml README.md LICENSE $(shell find airflow_entityresolution -type f -not -path '*/__pycache__/*')
HARNESS := harness/pyproject.toml $(shell find harness -name '*.py' -not -path '*/__pycache__/*')
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags
# Each step of `make test` and `make test-all` runs through scripts/time_table.py, which records its
# wall time here, beside each pytest's JUnit report; `make time-table` prints them (.ci/run ends with it).
export ER_REPORTS := $(CURDIR)/.reports
TIMED = $(PYTHON) scripts/time_table.py run
# pytest-xdist workers for the in-process suite: most tests wait on the emulator's HTTP or on
# Airflow's supervisor rather than compute, so more workers than cores pays on a 2-core machine.
WORKERS ?= 4

.PHONY: install demo test test-all test-production time-table time-table-reset lint docs lock bench clean $(addprefix test-,$(PROFILES))
.SECONDARY:

install: .venvs/$(NEWEST)/.installed

$(UV):
	test -x .venvs/tools/bin/python || $(TIMED) setup-tools -- $(PYTHON) -m venv .venvs/tools
	$(TIMED) setup-tools -- .venvs/tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(WHEEL): $(SOURCES) | $(UV)
	rm -f dist/airflow_entityresolution-*.whl
	$(TIMED) setup-tools -- $(UV) build --quiet --wheel --out-dir dist

# A profile's virtualenv: its Python (or the nearest this machine has), the wheel with the
# profile's extras (the emulator and the test tools; the documentation's tools in the newest), and
# what the profile alone requires, every version from its lock.
# Bytecode is compiled at install, as pip and the official images do, so no process compiles
# Airflow's sources again.
.venvs/%/.installed: constraints/%.txt $(WHEEL) $(HARNESS) | $(UV)
	$(TIMED) setup-$* -- $(UV) venv --quiet --allow-existing --seed --python "$$($(PYTHON) scripts/profiles.py python $*)" .venvs/$*
	$(TIMED) setup-$* -- $(UV) pip install --quiet --compile-bytecode --python .venvs/$*/bin/python -c constraints/$*.txt \
		--reinstall-package airflow-entityresolution "$(WHEEL)[$$($(PYTHON) scripts/profiles.py extras $*)]" $$($(PYTHON) scripts/profiles.py requirements $*) \
		--reinstall-package airflow-stack ./harness
	touch $@

demo: .venvs/$(NEWEST)/.installed
	$(BIN)/python scripts/demo.py

# What a contributor runs before every commit: the static checks, the documentation, then the whole
# suite in the newest profile.
test: lint docs test-$(NEWEST)

# What CI runs (.ci/run): the same, then every other profile and the production tier;
# `make -k test-all` runs every step even after one fails.
test-all: test $(addprefix test-,$(filter-out $(NEWEST),$(PROFILES))) test-production

# -rs: the summary names what this profile skips, and why; ER_SKIPPED_TIERS, the real-process tiers it
# leaves to other profiles (scripts/profiles.py). PYTHONSAFEPATH: the suite, and every Python it starts,
# imports the installed wheel, never the working copy's sources. --dist loadfile keeps each
# module on one worker, so a module's fixtures (an Airflow stack, a built wheel) start once.
$(addprefix test-,$(PROFILES)): test-%: .venvs/%/.installed
	@echo "== profile $*"
	@$(PYTHON) scripts/profiles.py python $* > /dev/null
	PYTHONSAFEPATH=1 ER_PROFILE=$* ER_SKIPPED_TIERS=$$($(PYTHON) scripts/profiles.py skipped-tiers $*) \
		$(TIMED) profile-$* -- .venvs/$*/bin/pytest -rs -n $(WORKERS) --dist loadfile \
		--junitxml=$(ER_REPORTS)/profile-$*.xml

# The production tier (tests/production): PostgreSQL, Celery on Redis with two workers, two triggerers,
# in its own profile. The script installs Debian's PostgreSQL and Redis if missing; the tier's fixtures
# start private instances of both, and stop them, whatever the outcome.
test-production: .venvs/production/.installed
	@echo "== production tier"
	$(TIMED) setup-production-services -- scripts/production_services.sh
	PYTHONSAFEPATH=1 ER_PROFILE=production ER_PRODUCTION_TIER=1 $(TIMED) production -- .venvs/production/bin/pytest -rs \
		--durations=0 --junitxml=$(ER_REPORTS)/production.xml tests/production

# Each step's wall seconds and test counts, the slowest tests, and the total against CI's budget;
# time-table-reset forgets earlier steps and starts the total's clock (.ci/run begins with it).
time-table:
	@$(PYTHON) scripts/time_table.py print

time-table-reset:
	@$(PYTHON) scripts/time_table.py reset

LINTED := airflow_entityresolution tests example_dags scripts benchmarks docs harness
lint: .venvs/$(NEWEST)/.installed
	$(TIMED) ruff -- $(BIN)/ruff check $(LINTED)
	$(TIMED) ruff -- $(BIN)/ruff format --check $(LINTED)
	$(TIMED) mypy -- $(BIN)/mypy

# The Sphinx site, docs/_build/html: nitpicky (every cross-reference must resolve), and every
# warning an error, so that a broken reference fails `make test`.
docs: .venvs/$(NEWEST)/.installed
	$(TIMED) docs -- $(BIN)/sphinx-build -E -n -W --keep-going -b html docs docs/_build/html

# Side-by-side measurements against the Amazon-provider-style baseline; rewrites BENCHMARKS.md.
# `$(BIN)/python -m benchmarks.run --only job-events` measures section 7 alone and rewrites only its parts.
bench: .venvs/$(NEWEST)/.installed
	$(BIN)/python -m benchmarks.run

# Re-resolves every profile's lock from pyproject.toml, each as PyPI stood on its date.
lock: | $(UV)
	$(PYTHON) scripts/profiles.py lock --uv $(UV)

clean:
	rm -rf .venvs dist .airflow .pytest_cache .reports docs/_build
