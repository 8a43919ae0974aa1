# One entry point for every check; .ci/run calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test check lint types unit bench clean run-example start

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check relayflow tests bench
	$(BIN)/ruff format --check relayflow tests bench

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q -n 2

# lint + types + unit tests: the fast loop
check: lint types unit

# everything: lint, types and the whole suite (what CI runs)
test: lint types
	$(BIN)/pytest -q -n 2 --durations=10

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# installs, then serves the API on RELAYFLOW_HOST:RELAYFLOW_PORT (127.0.0.1:5678) until Ctrl+C
start: $(STAMP)
	$(BIN)/relayflow start

run-example: $(STAMP)
	$(BIN)/relayflow run examples/hello.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
