# Every target creates .venv itself; nothing needs to be installed by hand first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-reliability demo lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Faults, crashes, bad input, secrets, transport (also part of `make test`); prints a summary table.
test-reliability: $(STAMP)
	$(BIN)/python -m pytest -q tests/reliability -p no:randomly

demo: $(STAMP)
	$(BIN)/python example_dags/run_demo.py

# The emulator and a local Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1; Ctrl-C stops all.
.PHONY: ui
ui: $(STAMP)
	$(BIN)/python example_dags/run_ui.py

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_tia tests example_dags benchmarks

# The benchmarks compare with the Amazon provider, installed in a separate venv only.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade uv
	$(BENCH_VENV)/bin/uv pip install -q --python $(BENCH_VENV)/bin/python -e '.[test]' apache-airflow-providers-amazon
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .airflow-demo
