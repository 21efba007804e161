# The two commands a fresh clone needs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT_DIR ?= reports/demo

.PHONY: demo test lint typecheck unit bench docs conformance clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: check every family of the embedded mock, load it with every format for 5 s, gate the run on gates.toml
## and render report.html + summary.md; reports in reports/demo/
demo: $(STAMP)
	$(BIN)/llmconform check --report-dir $(REPORT_DIR)
	$(BIN)/llmconform load --scenario mixed --duration 5 --report-dir $(REPORT_DIR)
	$(BIN)/llmconform gate --thresholds gates.toml $(REPORT_DIR)
	$(BIN)/llmconform report $(REPORT_DIR)

## test: ruff, mypy (strict on src/), then the test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench conformance
	$(BIN)/ruff format --check src tests bench conformance

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## bench: `llmconform check` duration; `llmconform load` timing accuracy, memory and capacity (bench/README.md)
bench: $(STAMP)
	$(BIN)/python bench/check_duration.py
	$(BIN)/python bench/load_timing_accuracy.py
	$(BIN)/python bench/load_memory.py
	$(BIN)/python bench/load_generator_capacity.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache

## docs: regenerate docs/rules.md from the rule registry
docs: $(STAMP)
	$(BIN)/python -m llmconform.report.rules_doc > docs/rules.md

## conformance: the user-facing pytest suite (LLMCONFORM_BASE_URL / _API_KEY / _MODEL pick a target)
conformance: $(STAMP)
	$(BIN)/pytest conformance -q
