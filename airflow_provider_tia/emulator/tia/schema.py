"""TI-A request shapes (tia 2018-02-26) and their checking: names, presence, types and bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.errors import ApiError
from ..core.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_REPLICA_COUNT,
    MAX_STRING_CHARS,
)
from ..core.params import coerce

VERSION = "2018-02-26"
CUSTOM_FIELDS = ("MasterType", "WorkerType", "ParameterServerType", "WorkerCount", "ParameterServerCount")
COUNT_TYPES = {"WorkerCount": "WorkerType", "ParameterServerCount": "ParameterServerType"}
MACHINE_TYPE_RE = re.compile(r"[0-9]+U[0-9]+G[0-9]+P")  # fullmatch: no trailing newline, ASCII digits


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is str, int, bool or list (of strings); ``bound`` is the longest string or
    list item for str/list, the inclusive (low, high) range for int."""

    kind: str
    required: bool = False
    bound: Any = None


_NAME = Param("str", True, MAX_NAME_CHARS)
_TEXT = Param("str", False, MAX_STRING_CHARS)
_LIST = Param("list", False, MAX_STRING_CHARS)
_COUNT = Param("int", False, (0, MAX_REPLICA_COUNT))
SCHEMAS: dict[str, dict[str, Param]] = {
    "CreateJob": {
        "Name": _NAME, "Cluster": _NAME, "RuntimeVersion": Param("str", True, MAX_STRING_CHARS),
        "PackageDir": _LIST, "Command": _LIST, "Args": _LIST, "ScaleTier": _TEXT, "MasterType": _TEXT,
        "WorkerType": _TEXT, "ParameterServerType": _TEXT, "WorkerCount": _COUNT, "ParameterServerCount": _COUNT,
        "Debug": Param("bool"), "RuntimeConf": _LIST,
    },
    "DescribeJob": {"Name": _NAME, "Cluster": _NAME},
    "DeleteJob": {"Name": _NAME, "Cluster": _NAME},
    "ListJobs": {"Cluster": _NAME, "Limit": Param("int", False, (1, INT64_MAX)),
                 "Offset": Param("int", False, (0, INT64_MAX))},
    "QueryLogs": {
        "JobName": _NAME, "Cluster": _NAME, "StartTime": Param("str", True, MAX_STRING_CHARS),
        "EndTime": Param("str", True, MAX_STRING_CHARS), "Limit": Param("int", True, (1, INT64_MAX)),
        "Context": _TEXT,
    },
}  # fmt: skip


def _check_bound(name: str, param: Param, value: Any) -> None:
    """InvalidParameterValue naming the parameter and its bound when ``value`` is beyond it."""
    if param.kind == "int":
        low, high = param.bound or (INT64_MIN, INT64_MAX)
        if not low <= value <= high:
            raise ApiError("InvalidParameterValue", f"The parameter `{name}` must be within [{low}, {high}].")
    elif param.kind == "str" and len(value) > param.bound:
        raise ApiError(
            "InvalidParameterValue", f"The parameter `{name}` is longer than {param.bound} characters."
        )
    elif param.kind == "list":
        if len(value) > MAX_LIST_ITEMS:
            raise ApiError(
                "InvalidParameterValue", f"The parameter `{name}` has more than {MAX_LIST_ITEMS} items."
            )
        if any(len(item) > param.bound for item in value):
            raise ApiError(
                "InvalidParameterValue",
                f"An item of the parameter `{name}` is longer than {param.bound} characters.",
            )


def validate(action: str, params: dict, typed: bool) -> dict:
    """Check names, presence, types and bounds against the action's schema; returns converted params."""
    schema = SCHEMAS[action]
    for name in params:
        if name not in schema:
            shown = name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS] + "..."
            raise ApiError("UnknownParameter", f"The parameter `{shown}` is not recognized.")
    out = {}
    for name, param in schema.items():
        value = params.get(name)
        if value is None:
            if param.required:
                raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
            continue
        out[name] = coerce(name, param.kind, value, typed)
        _check_bound(name, param, out[name])
        if param.required and param.kind == "str" and not out[name].strip():
            raise ApiError("InvalidParameterValue", f"The parameter `{name}` must not be empty.")
    return out
