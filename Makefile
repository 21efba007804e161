# The two commands a fresh clone needs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT_DIR ?= reports/demo

.PHONY: demo test lint typecheck unit fuzz bench bench-peers docs conformance clean

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
	$(BIN)/pytest -q -n 4 --dist loadgroup

## fuzz: the parser fuzz tests with FUZZ_EXAMPLES fresh random examples, then, when atheris is installed
## (pip install -e '.[fuzz]'), its coverage-guided harnesses for FUZZ_SECONDS each; crash inputs in reports/fuzz/
FUZZ_EXAMPLES ?= 5000
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	LLMCONFORM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) LLMCONFORM_FUZZ_RANDOM=1 timeout 1200 \
		$(BIN)/pytest -q --timeout=0 tests/unit/test_fuzz_parsers.py
	@if $(BIN)/python -c 'import atheris' 2>/dev/null; then \
		mkdir -p reports/fuzz && \
		$(BIN)/python -m tests.fuzz.atheris_sse -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=reports/fuzz/ && \
		$(BIN)/python -m tests.fuzz.atheris_families -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=reports/fuzz/; \
	else echo "atheris is not installed: pip install -e '.[fuzz]' adds the coverage-guided harnesses"; fi

## bench: `llmconform check` duration; `llmconform load` timing accuracy, memory and capacity (bench/README.md)
bench: $(STAMP)
	$(BIN)/python bench/check_duration.py
	$(BIN)/python bench/load_timing_accuracy.py
	$(BIN)/python bench/load_memory.py
	$(BIN)/python bench/load_generator_capacity.py
	$(BIN)/python bench/stream_reading.py

## bench-peers: AIPerf, GuideLLM and `llmconform load` against the same mock, judged by its server-side record.
## Not part of `bench`: the first run installs the peers into bench/.peers/ (~7 GB with GuideLLM's torch)
bench-peers: $(STAMP)
	$(BIN)/python bench/peers_side_by_side.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache

## docs: regenerate docs/rules.md from the rule registry
docs: $(STAMP)
	$(BIN)/python -m llmconform.report.rules_doc > docs/rules.md

## conformance: the user-facing pytest suite (LLMCONFORM_BASE_URL / _API_KEY / _MODEL pick a target)
conformance: $(STAMP)
	$(BIN)/pytest conformance -q
