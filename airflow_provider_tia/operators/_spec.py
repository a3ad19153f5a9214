"""Rendered operator arguments -> ``JobSpec``: coercion of templated strings and run-unique names.

No network and no SDK here, so DAG parsing stays cheap and these functions are easy to test.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.job import API_NAMES, MAX_NAME_LENGTH, SPEC_FIELDS, JobSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

COUNT_FIELDS = tuple(f.attr for f in SPEC_FIELDS if f.kind == "count")
BOOL_FIELDS = tuple(f.attr for f in SPEC_FIELDS if f.kind == "bool")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
SUFFIX_LENGTH = 8


def coerce(parameter: str, value: Any) -> Any:
    """Turn a count or flag rendered as text (``"3"``, ``"true"``) into its type; other values pass.

    Example::

        coerce("worker_count", " 3 ")  # 3
        coerce("worker_count", "three")  # JobSpecError: Invalid parameter worker_count (WorkerCount): ...
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if parameter in COUNT_FIELDS:
        if re.fullmatch(r"\d+", text):
            return int(text)
        raise JobSpecError(
            parameter,
            f"must be a non-negative integer, got the string {value!r:.60} (after rendering templates)",
            api_name=API_NAMES[parameter],
        )
    if parameter in BOOL_FIELDS:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise JobSpecError(
            parameter,
            f"must be true or false, got the string {value!r:.60} (after rendering templates)",
            api_name=API_NAMES[parameter],
        )
    return value


def build_spec(values: Mapping[str, Any]) -> JobSpec:
    """A validated ``JobSpec`` from rendered operator values (``JobSpecError`` names the parameter)."""
    return JobSpec.from_kwargs(**{key: coerce(key, value) for key, value in values.items()})


def run_suffix(
    dag_id: str, task_id: str, run_id: str, map_index: int | None, length: int = SUFFIX_LENGTH
) -> str:
    """A short hash, the same for every try of one task instance, different across runs."""
    key = "\0".join((dag_id, task_id, run_id, str(-1 if map_index is None else map_index)))
    return hashlib.sha256(key.encode()).hexdigest()[:length]


def task_instance_hash(ti: Any, length: int = SUFFIX_LENGTH) -> str:
    """``run_suffix`` of a running task instance (its dag, task, run and map index)."""
    return run_suffix(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), length)


def suffixed(name: str, suffix: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """``name-suffix``, trimming ``name`` so the result stays a valid job name (TI-A: 63 characters)."""
    head = name[: max_length - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"
