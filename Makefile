# Every target creates .venv itself; nothing needs to be installed by hand first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-reliability demo demo-tione demo-retraining lint docs bench clean test-floor dist test-wheel test-deployment

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,openlineage]' 'mypy>=1.10'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Faults, crashes, bad input, secrets, transport (also part of `make test`); prints a summary table.
test-reliability: $(STAMP)
	$(BIN)/python -m pytest -q tests/reliability -p no:randomly

demo: $(STAMP)
	$(BIN)/python example_dags/run_demo.py tia

# The TI-ONE example DAG, offline: the emulator and moto (COS) are started by the demo.
demo-tione: $(STAMP)
	$(BIN)/python example_dags/run_demo.py tione

# The emulator and a local Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1; Ctrl-C stops all.
.PHONY: ui
ui: $(STAMP)
	$(BIN)/python example_dags/run_ui.py

# The production-like stack (tests/deployment): PostgreSQL (Debian's postgresql package; a private cluster
# on 127.0.0.1), LocalExecutor, two triggerers (HA), the emulator and COS; trigger reassignment, triggerer
# SIGKILL, user kill, scheduled, mapped and quick runs, extra links, ERROR lines. Figures print at the end.
# Airflow's postgresql+psycopg2:// URL needs psycopg2, and its async engine (postgresql+asyncpg) asyncpg.
test-deployment: $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python 'psycopg2-binary>=2.9' 'asyncpg>=0.29'
	$(BIN)/python -m pytest -q -m deployment tests/deployment -p no:randomly

# The retraining loop, offline: three daily runs against the emulator (real serving with tiinfer) and moto;
# the third ships a broken model_service.py and shows the rollback. Exits 0 when all three behave.
demo-retraining: $(STAMP)
	$(BIN)/python example_dags/run_retraining.py

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_tia tests example_dags benchmarks
	$(BIN)/ruff format --check airflow_provider_tia tests example_dags benchmarks
	$(BIN)/mypy airflow_provider_tia

# The documentation site (docs/), built from the code with warnings as errors.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

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

# The lowest Airflow pyproject.toml claims, on the lowest Python: unit and DAG tests (not the slow
# reliability suite). Every package is resolved as of that Airflow's release (uv --exclude-newer),
# standing in for Airflow's constraints file, which pins what it was released and tested with.
FLOOR_PYTHON ?= $(or $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python))),python3.10)
FLOOR_AIRFLOW ?= 3.2.0
FLOOR_DATE ?= 2026-04-15T00:00:00Z
FLOOR_VENV := .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed
FLOOR_DESELECT ?=  # e.g. --deselect <test id> while a floor-only problem is fixed
$(FLOOR_STAMP): pyproject.toml $(STAMP)
	rm -rf $(FLOOR_VENV)
	$(BIN)/uv venv -q --python $(FLOOR_PYTHON) $(FLOOR_VENV)
	$(BIN)/uv pip install -q --python $(FLOOR_VENV)/bin/python --exclude-newer $(FLOOR_DATE) \
		-e '.[test]' 'apache-airflow==$(FLOOR_AIRFLOW)'
	touch $(FLOOR_STAMP)

test-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -c 'import airflow, sys; print("floor: Airflow", airflow.__version__, "Python", sys.version.split()[0])'
	$(FLOOR_VENV)/bin/python -m pytest -q --ignore=tests/reliability $(FLOOR_DESELECT)

# The wheel and sdist as users get them, checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/uv build -q --out-dir dist
	$(BIN)/uv tool run -q twine check --strict dist/*
	$(BIN)/python -c 'import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist(); \
		missing = [n for n in ("airflow_provider_tia/py.typed", "airflow_provider_tia/emulator/server.py") if n not in names]; \
		sys.exit(f"wheel lacks {missing}" if missing else 0)' dist/*.whl

# The DAG, provider and pytest-plugin tests against the wheel in a fresh venv (no editable checkout):
# the tests run from a copy outside the source tree, so `airflow_provider_tia` can only come from the wheel.
WHEEL_PYTHON ?= $(PYTHON)
WHEEL_VENV := .venv-wheel
WHEEL_TESTS := tests/shared/test_example_dags.py tests/operators/test_tia_dag.py tests/shared/test_code_dir_dag.py \
	tests/shared/test_provider.py tests/emulator/test_cli_and_plugin.py
test-wheel: dist
	rm -rf $(WHEEL_VENV) .wheel-tests
	$(BIN)/uv venv -q --python $(WHEEL_PYTHON) $(WHEEL_VENV)
	$(BIN)/uv pip install -q --python $(WHEEL_VENV)/bin/python "$$(ls dist/*.whl)[test]"
	mkdir .wheel-tests && cp -r tests example_dags README.md pyproject.toml .wheel-tests/
	cd .wheel-tests && ../$(WHEEL_VENV)/bin/python -c 'import airflow_provider_tia as p, sys; \
		print("testing", p.__file__); sys.exit("not the wheel" if "site-packages" not in p.__file__ else 0)'
	cd .wheel-tests && ../$(WHEEL_VENV)/bin/pytest -q $(WHEEL_TESTS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(FLOOR_VENV) $(WHEEL_VENV) .wheel-tests dist .airflow-demo
