# Anthropic FinOps. `make run` starts the product, `make test` runs the tests; both bootstrap .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test soak bench lint clean

$(VENV)/.run-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The FinOps Foundation's focus-validator, for tests/test_focus_validator.py: its own venv (it
# pins numpy<2 and pyarrow<23, which must not downgrade the app's), prepared by
# tests/focus_validator.py. Without PyPI this says so and `make test` goes on: that test then
# fails, naming the reason.
FOCUS_VENV := .venv-focus
$(FOCUS_VENV)/.installed: tests/focus_validator.py
	$(PYTHON) tests/focus_validator.py install || echo "focus-validator NOT installed: tests/test_focus_validator.py will fail"

$(VENV)/.bench-installed: $(VENV)/.test-installed
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

run: $(VENV)/.run-installed
	$(BIN)/finops serve

# One test process per core and one more (TEST_WORKERS=0 runs them in this process, e.g. to use
# a debugger): a third of the suite's time is spent waiting on child processes, servers and
# browsers (2 processes kept 1.4 of 2 cores busy on average through a whole run).
# worksteal evens out the long tests (browsers, killed workers) across the processes.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: $(VENV)/.test-installed $(FOCUS_VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Long-running checks, not part of `make test`.
soak: $(VENV)/.test-installed
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/bench.py $(BENCH_ARGS)
	$(BIN)/python -m bench.anomaly_quality $(ANOMALY_BENCH_ARGS)
	$(BIN)/python -m bench.forecast_quality $(FORECAST_BENCH_ARGS)

# Ruff on everything; mypy (strict, [tool.mypy] in pyproject.toml) on the product code.
# pages/ is not a package: mypy checks its scripts as top-level modules.
lint: $(VENV)/.test-installed
	$(BIN)/ruff check app ingest pages tests bench
	$(BIN)/ruff format --check app ingest pages tests bench
	$(BIN)/mypy app ingest pages

clean:
	rm -rf $(VENV) $(FOCUS_VENV) .pytest_cache .mypy_cache test-artifacts
