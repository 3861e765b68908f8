# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use
# and install only from the lock files in requirements/ (exact versions, hashes checked).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip's own cache and index settings stay as the machine has them; what it may install is fixed
# by the hashes, so a newer release on the index can never slip in.
PIP := $(BIN)/pip install --disable-pip-version-check --no-input
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes

.PHONY: demo test lint bench bench-deps golden lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The editable install runs the locked hatchling without build isolation, so nothing
# outside the lock is fetched.
$(RUN_STAMP): requirements/run.txt pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes --no-deps -r requirements/run.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): requirements/test.txt pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes --no-deps -r requirements/test.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(RUN_STAMP) $@

demo: $(RUN_STAMP)
	$(BIN)/publisher demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check publisher tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest

# Benchmarks need Postfix's smtp-sink/smtp-source and wrk; each one names the Debian package
# it misses and exits 2. `make bench-deps` installs them (root, apt).
bench: $(TEST_STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit $$?; done

bench-deps:
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix wrk

golden: $(TEST_STAMP)
	PUBLISHER_REGEN_GOLDEN=1 $(BIN)/pytest -q -k golden

# On purpose only: re-resolve every dependency from pyproject's lower bounds, reinstall from
# the new lock and run the whole suite against it. Commit requirements/ only when it is green.
lock: | $(BIN)/python
	$(PIP) --require-hashes --no-deps -r requirements/tools.txt
	$(UV_COMPILE) --upgrade pyproject.toml requirements/build.in --extra test -o requirements/test.txt
	$(UV_COMPILE) pyproject.toml requirements/build.in -c requirements/test.txt -o requirements/run.txt
	$(PIP) --require-hashes --no-deps -r requirements/test.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(RUN_STAMP) $(TEST_STAMP)
	$(MAKE) test

clean:
	rm -rf $(VENV) var
