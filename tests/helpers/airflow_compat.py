"""What the tests use of Airflow where versions differ (the provider's own names: ``airflow_provider_tia.compat``)."""

from __future__ import annotations

import contextlib
import importlib
import inspect
from typing import Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_VERSION = Version(_airflow_version)

_WHERE = {
    "serialize": ("airflow.sdk.serde", "airflow.serialization.serde"),
    "deserialize": ("airflow.sdk.serde", "airflow.serialization.serde"),
    "import_string": ("airflow.sdk.module_loading", "airflow.utils.module_loading"),
    "DagSerialization": ("airflow.serialization.serialized_objects",),
    "SerializedDAG": ("airflow.serialization.serialized_objects",),
    "XComModel": ("airflow.models.xcom",),
    "XCom": ("airflow.models.xcom",),
    "DagBag": ("airflow.dag_processing.dagbag", "airflow.models.dagbag"),
}


def first(*names: str) -> Any:
    """The first of ``names`` that some module of theirs holds (newest Airflow's name first)."""
    for name in names:
        for module in _WHERE[name]:
            try:
                value = getattr(importlib.import_module(module), name, None)
            except ImportError:
                continue
            if value is not None:
                return value
    raise ImportError(f"none of {names}")


def dag_test(dag: Any, *, logical_date: Any = "unset", run_after: Any = None, **kwargs: Any) -> Any:
    """``dag.test()`` with Airflow 3's keywords; Airflow 2 has ``execution_date`` and every run has one."""
    parameters = inspect.signature(dag.test).parameters
    if "logical_date" in parameters:
        if logical_date != "unset":
            kwargs["logical_date"] = logical_date
        if run_after is not None:
            kwargs["run_after"] = run_after
    else:
        # Airflow 2: clearing an earlier run of the date maps DagRunNote -> ab_user (FAB's model).
        with contextlib.suppress(ImportError):
            import airflow.providers.fab.auth_manager.models  # noqa: F401
        if logical_date not in ("unset", None):
            kwargs["execution_date"] = logical_date
    return dag.test(**kwargs)


def xcoms(run: Any, key: str = "return_value", task_id: str | None = None) -> list[tuple[str, int, Any]]:
    """``(task_id, map_index, value)`` of a run's XComs under ``key``, read from the metadata DB."""
    from airflow.utils.session import create_session

    model = first("XComModel", "XCom")  # Airflow 2: XCom is the table
    query = {"run_id": run.run_id, "key": key, "dag_ids": run.dag_id}
    if task_id is not None:
        query["task_ids"] = task_id
    with create_session() as session:
        if "session" in inspect.signature(model.get_many).parameters:  # Airflow 2: rows loaded decoded
            return [(r.task_id, r.map_index, r.value) for r in model.get_many(session=session, **query)]
        rows = session.scalars(model.get_many(**query)).all()  # Airflow 3: a select statement
        return [(row.task_id, row.map_index, model.deserialize_value(row)) for row in rows]


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` of ``task_id`` in ``run`` (None if there is none)."""
    found = xcoms(run, key, task_id)
    return found[0][2] if found else None


def allow_execute_from_any_thread() -> None:
    """Airflow 2's ``ExecutorSafeguard`` keeps its callers in a thread-local set up in the importing
    thread only; the tests that kill a running operator call ``execute`` from a thread of their own."""
    import threading

    try:
        from airflow.models.baseoperator import ExecutorSafeguard
    except ImportError:  # Airflow 3
        return

    class Callers(threading.local):
        def __init__(self) -> None:
            self.callers: dict[str, Any] = {}

    ExecutorSafeguard._sentinel = Callers()


JOB_LOGGERS = ("airflow.task.operators", "airflow_provider_tia.triggers")  # the operator's and trigger's


def records_of(caplog: Any, match: Any, loggers: tuple[str, ...] = JOB_LOGGERS) -> int:
    """How many log records of ``loggers`` have a message ``match(message)`` accepts.

    Airflow 3.2+'s dag.test() prints task and trigger logs to stdout; 2.11's and 3.0's hand them to
    logging (pytest's caplog). A test counts both and takes the larger: a line logged twice still shows.
    """
    if caplog is None:
        return 0
    return sum(1 for r in caplog.records if r.name.startswith(loggers) and match(r.getMessage()))
