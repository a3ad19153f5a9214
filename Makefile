# Every target creates .venv itself; nothing needs to be installed by hand first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-reliability demo demo-tione demo-retraining lint docs bench clean test-floor dist test-wheel test-deployment \
	test-middle test-deployment-floor

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

# Older Airflows, each in its own venv with every package resolved as of a week after that Airflow's
# release (uv --exclude-newer), standing in for Airflow's constraints file, which pins what it was released
# and tested with. Tencent's packages (the SDK, tiinfer, tikit) postdate Airflow 2.11 and 3.0, so they are
# resolved as of today (--exclude-newer-package): what a team on an older Airflow installs with us.
# Each version's date and Python: AIRFLOW_DATE_<version>, AIRFLOW_PY_<version>.
AIRFLOW_DATE_2.11.0 := 2025-05-28T00:00:00Z
AIRFLOW_PY_2.11.0 := 3.10
AIRFLOW_DATE_3.0.6 := 2025-09-06T00:00:00Z
AIRFLOW_PY_3.0.6 := 3.11
AIRFLOW_DATE_3.1.8 := 2026-03-19T00:00:00Z
AIRFLOW_PY_3.1.8 := 3.12
AIRFLOW_DATE_3.2.0 := 2026-04-15T00:00:00Z
AIRFLOW_PY_3.2.0 := 3.10
TENCENT_PACKAGES := tencent-tiinfer tencentcloud-sdk-python-common tencentcloud-sdk-python-tia \
	tencentcloud-sdk-python-tione tikit
pyenv_python = $(or $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python))),python$(1))
TODAY := $(shell date -u +%Y-%m-%dT00:00:00Z)

.venv-airflow-%/.installed: pyproject.toml $(STAMP)
	rm -rf .venv-airflow-$*
	$(BIN)/uv venv -q --python $(call pyenv_python,$(AIRFLOW_PY_$*)) .venv-airflow-$*
	$(BIN)/uv pip install -q --python .venv-airflow-$*/bin/python --exclude-newer $(AIRFLOW_DATE_$*) \
		$(foreach p,$(TENCENT_PACKAGES),--exclude-newer-package $(p)=$(TODAY)) \
		-e '.[test]' 'apache-airflow==$*'
	.venv-airflow-$*/bin/python -c 'import airflow, sys; print("Airflow", airflow.__version__, "Python", sys.version.split()[0])'
	touch $@

# The lowest Airflow pyproject.toml claims (2.11.0), on the lowest Python (3.10): unit and DAG tests (not the
# slow reliability suite, nor the stacks of tests/deployment and tests/ui).
FLOOR_AIRFLOW := 2.11.0
FLOOR_DESELECT ?=  # e.g. --deselect <test id> while a floor-only problem is fixed
test-floor: .venv-airflow-$(FLOOR_AIRFLOW)/.installed
	.venv-airflow-$(FLOOR_AIRFLOW)/bin/python -m pytest -q --ignore=tests/reliability --ignore=tests/deployment \
		--ignore=tests/ui $(FLOOR_DESELECT)

# The example DAGs end to end (dag.test() against the emulator, TI-A and TI-ONE) and the provider's
# registration on the Airflows between the floor and the newest: `make test-examples-3.1.8`.
EXAMPLE_TESTS := tests/shared/test_example_dags.py tests/shared/test_code_dir_dag.py \
	tests/operators/test_tione_retraining_example.py tests/shared/test_provider.py
MIDDLE_AIRFLOWS := 3.0.6 3.1.8 3.2.0
test-examples-%: .venv-airflow-%/.installed
	.venv-airflow-$*/bin/python -m pytest -q -p no:randomly $(EXAMPLE_TESTS)

# All three, two at a time (CI: 2 cores); each run's output is kept whole in .airflow-logs/<version>.txt.
test-middle: $(foreach v,$(MIDDLE_AIRFLOWS),.venv-airflow-$(v)/.installed)
	mkdir -p .airflow-logs
	printf '%s\n' $(MIDDLE_AIRFLOWS) | xargs -P 2 -I{} sh -c \
		'$(MAKE) -s test-examples-{} > .airflow-logs/{}.txt 2>&1; rc=$$?; echo "Airflow {}: rc $$rc, $$(tail -1 .airflow-logs/{}.txt)"; exit $$rc'

# The same stack as test-deployment on Airflow 2.11 (webserver, scheduler, triggerer; PostgreSQL, LocalExecutor).
test-deployment-floor: .venv-airflow-$(FLOOR_AIRFLOW)/.installed
	$(BIN)/uv pip install -q --python .venv-airflow-$(FLOOR_AIRFLOW)/bin/python \
		--exclude-newer $(AIRFLOW_DATE_$(FLOOR_AIRFLOW)) 'psycopg2-binary>=2.9' 'asyncpg>=0.29'
	.venv-airflow-$(FLOOR_AIRFLOW)/bin/python -m pytest -q -m deployment tests/deployment/test_airflow2_stack.py -p no:randomly

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
	rm -rf $(VENV) $(BENCH_VENV) .venv-airflow-* .venv-floor $(WHEEL_VENV) .airflow-logs .wheel-tests dist .airflow-demo
