"""Airflow 3.3's ``task_state_store`` of one task instance, in memory, for tests that run an operator
directly (outside a DAG run): one class for every such test."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class TaskStateStore:
    """What ``context["task_state_store"]`` offers the operators (``get``/``set``) over a dict, ``data``.

    ``data`` seeds it, e.g. with the record an earlier try wrote. Values pass through JSON as Airflow's
    metadata DB stores them, so a record the DB could not keep fails here too."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))
