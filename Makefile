# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench golden clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/publisher demo

test: $(STAMP)
	$(BIN)/ruff check publisher tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

golden: $(STAMP)
	PUBLISHER_REGEN_GOLDEN=1 $(BIN)/pytest -q -k golden

clean:
	rm -rf $(VENV) var
