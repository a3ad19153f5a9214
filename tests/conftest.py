"""Test setup: a private AIRFLOW_HOME with a migrated SQLite DB, and a DAGs folder holding the
example DAGs and the test DAGs. Environment is set before anything imports Airflow."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="tia-airflow-home-"))
_DAGS = _HOME / "dags"
_DAGS.mkdir()
for folder in (ROOT / "example_dags", ROOT / "tests" / "dags"):
    for path in sorted(folder.iterdir()):
        if (
            path.name != "__init__.py"
            and not path.name.startswith((".", "__"))
            and path.suffix in (".py", "")
        ):
            (_DAGS / path.name).symlink_to(path)
# As Airflow's DAG processor and task runner do: DAG files import helper modules of their folder
# (example_dags/_tione_digits.py); dag.test() adds the folder too, but only once it parses it.
sys.path.append(str(_DAGS))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # dag.test() has no scheduler to race with; one test sets it back to prove the delay.
        "AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY": "0",
    }
)
os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
# Airflow 3.0/3.1's dag.test() renders a task's exception with rich: plain and unwrapped, the tests
# find its message in the output as on later versions.
os.environ.setdefault("NO_COLOR", "1")
os.environ.setdefault("COLUMNS", "300")


@pytest.fixture(scope="session", autouse=True)
def _execute_from_any_thread() -> None:
    from tests.helpers.airflow_compat import allow_execute_from_any_thread

    allow_execute_from_any_thread()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata DB (needed by dag.test())."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _HOME


def load_dag(dag_id: str):
    """Import a DAG file of the DAGs folder (file name = dag_id + .py, or the file naming the dag_id)
    and return its DAG."""
    path = _DAGS / f"{dag_id}.py"
    if not path.exists():
        path = next(p for p in sorted(_DAGS.glob("*.py")) if f'"{dag_id}"' in p.read_text())
    spec = importlib.util.spec_from_file_location(f"tia_test_dag_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id:
            return value
    raise LookupError(f"no DAG {dag_id!r} in {path}")


@pytest.fixture
def dag_loader(airflow_db):
    """``load_dag`` as a fixture (importing conftest by name is ambiguous with tests/emulator/conftest.py)."""
    return load_dag


@pytest.fixture
def run_dag(airflow_db, tia_connection):
    """Run a DAG of the DAGs folder with dag.test() against the emulator; returns the DagRun."""

    from tests.helpers.airflow_compat import dag_test

    def run(dag_id: str, conf: dict | None = None, **kwargs):
        return dag_test(load_dag(dag_id), run_conf=conf, **kwargs)

    return run


@pytest.fixture(scope="session")
def moto_url():
    """moto's S3 server on a free local port, standing in for COS (its S3-compatible API)."""
    from airflow_provider_tia.emulator import local_cos_server

    with local_cos_server() as url:
        yield url


@pytest.fixture(scope="session")
def cos_emulator(moto_url, tmp_path_factory):
    """An emulator (TI-A and TI-ONE, local runner) fetching code from and writing output to moto's COS."""
    from airflow_provider_tia.emulator import TIAEmulator

    with TIAEmulator(
        runner="local", state_dir=tmp_path_factory.mktemp("cos-emu"), cos_endpoint=moto_url
    ) as emu:
        yield emu


@pytest.fixture
def cos_connection(cos_emulator, moto_url, monkeypatch) -> str:
    """``tencentcloud_default`` pointing at ``cos_emulator``, with moto as its COS endpoint."""
    conn = json.loads(cos_emulator.connection_uri_json())
    conn["extra"]["cos_endpoint"] = moto_url
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_DEFAULT", json.dumps(conn))
    return "tencentcloud_default"


@pytest.fixture(scope="module")
def simulated_emulator():
    """An emulator of its own for this test module: simulated runner (timed jobs, no processes)."""
    from airflow_provider_tia.emulator import TIAEmulator

    with TIAEmulator(runner="simulated", sim_duration=0.5) as emulator:
        yield emulator


@pytest.fixture
def connect(monkeypatch):
    """``connect(conn_id, emulator, extra={...}, **fields)``: an Airflow connection to that emulator."""

    def make(conn_id: str, emulator, *, extra: dict | None = None, **fields) -> str:
        body = json.loads(emulator.connection_uri_json())
        body.update(fields)
        body["extra"] = {**body["extra"], **(extra or {})}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
        return conn_id

    return make
