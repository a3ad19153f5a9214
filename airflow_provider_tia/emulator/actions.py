"""TI-A actions: parameter schemas, validation and the five job actions over a JobStore and a Runner."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .store import MAX_LINES_PER_WINDOW
from .timefmt import parse_query_time

if TYPE_CHECKING:
    from collections.abc import Callable

    from .runner import Runner
    from .store import JobStore

VERSION = "2018-02-26"
CUSTOM_FIELDS = ("MasterType", "WorkerType", "ParameterServerType", "WorkerCount", "ParameterServerCount")
MACHINE_TYPE_RE = re.compile(r"[0-9]+U[0-9]+G[0-9]+P")  # fullmatch: no trailing newline, ASCII digits
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 20, 100

# name -> (type, required); types: str, int, bool, list (of strings)
SCHEMAS: dict[str, dict[str, tuple[str, bool]]] = {
    "CreateJob": {
        "Name": ("str", True), "Cluster": ("str", True), "RuntimeVersion": ("str", True),
        "PackageDir": ("list", False), "Command": ("list", False), "Args": ("list", False),
        "ScaleTier": ("str", False), "MasterType": ("str", False), "WorkerType": ("str", False),
        "ParameterServerType": ("str", False), "WorkerCount": ("int", False),
        "ParameterServerCount": ("int", False), "Debug": ("bool", False), "RuntimeConf": ("list", False),
    },
    "DescribeJob": {"Name": ("str", True), "Cluster": ("str", True)},
    "DeleteJob": {"Name": ("str", True), "Cluster": ("str", True)},
    "ListJobs": {"Cluster": ("str", False), "Limit": ("int", False), "Offset": ("int", False)},
    "QueryLogs": {
        "JobName": ("str", True), "Cluster": ("str", True), "StartTime": ("str", True),
        "EndTime": ("str", True), "Limit": ("int", True), "Context": ("str", False),
    },
}  # fmt: skip
_TYPE_NAMES = {"str": "String", "int": "Integer", "bool": "Boolean", "list": "Array of String"}


def _coerce(name: str, kind: str, value: Any, typed: bool) -> Any:
    """Check (JSON) or convert (query/form strings) one value; InvalidParameter on a type mismatch."""
    bad = ApiError("InvalidParameter", f"The parameter `{name}` must be {_TYPE_NAMES[kind]}.")
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return value
    if typed:
        ok = {
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
        }[kind]
        if not ok:
            raise bad
        return value
    if not isinstance(value, str):
        raise bad
    if kind == "int":
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise bad
        return int(value)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise bad
        return value.lower() in ("true", "1")
    return value


def validate(action: str, params: dict, typed: bool) -> dict:
    """Check names, presence and types against the action's schema; returns converted params."""
    schema = SCHEMAS[action]
    for name in params:
        if name not in schema:
            raise ApiError("UnknownParameter", f"The parameter `{name}` is not recognized.")
    out = {}
    for name, (kind, required) in schema.items():
        value = params.get(name)
        if value is None:
            if required:
                raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
            continue
        out[name] = _coerce(name, kind, value, typed)
        if required and kind == "str" and not out[name].strip():
            raise ApiError("InvalidParameterValue", f"The parameter `{name}` must not be empty.")
    return out


class Service:
    """The five TI-A job actions; ``dispatch`` validates then runs one."""

    def __init__(self, store: JobStore, runner: Runner) -> None:
        self.store = store
        self.runner = runner
        self.handlers: dict[str, Callable[[dict], dict]] = {
            "CreateJob": self.create_job,
            "DescribeJob": self.describe_job,
            "ListJobs": self.list_jobs,
            "DeleteJob": self.delete_job,
            "QueryLogs": self.query_logs,
        }

    def dispatch(self, action: str, params: dict, typed: bool = True) -> dict:
        """Run ``action``; raises ApiError. ``typed`` is False for query-string/form values."""
        return self.handlers[action](validate(action, params, typed))

    def create_job(self, p: dict) -> dict:
        custom = str(p.get("ScaleTier") or "").upper() == "CUSTOM"
        for name in CUSTOM_FIELDS:
            if name in p and not custom:
                raise ApiError("InvalidParameter", f"`{name}` is only allowed when ScaleTier is Custom.")
        if custom and not p.get("MasterType"):
            raise ApiError("InvalidParameter", "ScaleTier Custom requires `MasterType`.")
        for name in ("MasterType", "WorkerType", "ParameterServerType"):
            if name in p and not MACHINE_TYPE_RE.fullmatch(p[name]):
                raise ApiError(
                    "InvalidParameterValue",
                    f"`{name}` {p[name]!r} is not a machine type like 1U1G0P (<cpu>U<mem GB>G<gpus>P).",
                )
        for name in ("WorkerCount", "ParameterServerCount"):
            if p.get(name, 0) < 0:
                raise ApiError("InvalidParameterValue", f"`{name}` must not be negative.")
        problem = self.runner.validate(p)
        if problem:
            raise ApiError("InvalidParameterValue", problem)
        job = self.store.create(p)
        self.runner.start(job)
        job.pop("State", None)  # like the real service, the CreateJob reply only says "creating"
        return {"Job": job}

    def _job(self, cluster: str, name: str) -> dict:
        job = self.store.get(cluster, name)
        if job is None:
            raise ApiError("ResourceNotFound", f"job {name!r} not found in cluster {cluster!r}")
        return job

    def describe_job(self, p: dict) -> dict:
        return {"Job": self._job(p["Cluster"], p["Name"])}

    def list_jobs(self, p: dict) -> dict:
        limit, offset = p.get("Limit", LIST_DEFAULT_LIMIT), p.get("Offset", 0)
        if not 1 <= limit <= LIST_MAX_LIMIT:
            raise ApiError("InvalidParameterValue", f"`Limit` must be within [1, {LIST_MAX_LIMIT}].")
        if offset < 0:
            raise ApiError("InvalidParameterValue", "`Offset` must not be negative.")
        return {"Jobs": self.store.list(p.get("Cluster"), offset, limit)}

    def delete_job(self, p: dict) -> dict:
        job = self.store.delete(p["Cluster"], p["Name"])
        self.runner.stop(job["Id"])
        return {}

    def query_logs(self, p: dict) -> dict:
        try:
            start, end = parse_query_time(p["StartTime"]), parse_query_time(p["EndTime"])
        except ValueError:
            raise ApiError(
                "InvalidParameterValue",
                "`StartTime`/`EndTime` must look like 2019-01-01 00:00:00 (read in +0800).",
            ) from None
        if start > end:
            raise ApiError("InvalidParameterValue", "`StartTime` is after `EndTime`.")
        if p["Limit"] < 1:
            raise ApiError("InvalidParameterValue", "`Limit` must be positive.")
        limit = min(p["Limit"], MAX_LINES_PER_WINDOW)
        logs, context, listover = self.store.query_logs(
            p["Cluster"], p["JobName"], start, end, limit, p.get("Context")
        )
        return {"Context": context, "Logs": logs, "Listover": listover}
