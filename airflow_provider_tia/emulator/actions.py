"""TI-A actions: parameter schemas, validation and the five job actions over a JobStore and a Runner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_REPLICA_COUNT,
    MAX_STRING_CHARS,
)
from .store import MAX_LINES_PER_WINDOW, public_job
from .timefmt import QUERY_ZONES, parse_query_time

if TYPE_CHECKING:
    from collections.abc import Callable

    from .auth import Account
    from .runner import Runner
    from .store import JobStore

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
_TYPE_NAMES = {"str": "String", "int": "Integer", "bool": "Boolean", "list": "Array of String"}


def coerce(name: str, kind: str, value: Any, typed: bool) -> Any:
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
        if len(value) > 40 or not re.fullmatch(r"-?\d+", value.strip()):  # int64 needs 20 characters
            raise bad
        return int(value)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise bad
        return value.lower() in ("true", "1")
    return value


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


class Service:
    """The five TI-A job actions; ``dispatch`` validates then runs one for the caller's account.

    ``query_logs_zone`` is how QueryLogs reads StartTime/EndTime without an offset: ``"+08:00"`` or ``"utc"``.
    """

    version = VERSION
    actions = frozenset(SCHEMAS)

    def __init__(self, store: JobStore, runner: Runner, query_logs_zone: str = "+08:00") -> None:
        if query_logs_zone not in QUERY_ZONES:
            raise ValueError(
                f"query_logs_zone must be one of {', '.join(QUERY_ZONES)}, not {query_logs_zone!r}"
            )
        self.store = store
        self.runner = runner
        self.query_logs_zone = query_logs_zone
        self.handlers: dict[str, Callable[[dict, Account | None], dict]] = {
            "CreateJob": self.create_job,
            "DescribeJob": self.describe_job,
            "ListJobs": self.list_jobs,
            "DeleteJob": self.delete_job,
            "QueryLogs": self.query_logs,
        }

    def dispatch(
        self,
        action: str,
        params: dict,
        typed: bool = True,
        account: Account | None = None,
        region: str = "",
    ) -> dict:
        """Run ``action``; raises ApiError. ``typed`` is False for query-string/form values; ``account``
        owns what the call creates and sees (None: the store's default account); ``region`` is unused
        (TI-A addresses jobs by Cluster)."""
        return self.handlers[action](validate(action, params, typed), account)

    def create_job(self, p: dict, account: Account | None) -> dict:
        custom = str(p.get("ScaleTier") or "").upper() == "CUSTOM"
        for name in CUSTOM_FIELDS:
            if name in p and not custom:
                raise ApiError("InvalidParameter", f"`{name}` is only allowed when ScaleTier is Custom.")
        if custom and not p.get("MasterType"):
            raise ApiError("InvalidParameter", "ScaleTier Custom requires `MasterType`.")
        for count, machine in COUNT_TYPES.items():
            if p.get(count, 0) > 0 and not p.get(machine):
                raise ApiError("InvalidParameter", f"`{count}` above 0 requires `{machine}`.")
        for name in ("MasterType", "WorkerType", "ParameterServerType"):
            if name in p and not MACHINE_TYPE_RE.fullmatch(p[name]):
                raise ApiError(
                    "InvalidParameterValue",
                    f"`{name}` {p[name]!r} is not a machine type like 1U1G0P (<cpu>U<mem GB>G<gpus>P).",
                )
        problem = self.runner.validate(p)
        if problem:
            raise ApiError("InvalidParameterValue", problem)
        owner = {"AppId": account.app_id, "Uin": account.uin} if account else {}
        job = self.store.create({**p, **owner})
        self.runner.start(job)
        job.pop("State", None)  # like the real service, the CreateJob reply only says "creating"
        return {"Job": public_job(job)}

    def _job(self, cluster: str, name: str, account: Account | None) -> dict:
        job = self.store.get(cluster, name, uin=account.uin if account else None)
        if job is None:
            raise ApiError("ResourceNotFound", f"job {name!r} not found in cluster {cluster!r}")
        return job

    def describe_job(self, p: dict, account: Account | None) -> dict:
        return {"Job": public_job(self._job(p["Cluster"], p["Name"], account))}

    def list_jobs(self, p: dict, account: Account | None) -> dict:
        """Jobs of one cluster in creation order; without Limit, every job from Offset on."""
        jobs = self.store.list(
            p["Cluster"], p.get("Offset", 0), p.get("Limit"), uin=account.uin if account else None
        )
        return {"Jobs": [public_job(j) for j in jobs]}

    def delete_job(self, p: dict, account: Account | None) -> dict:
        job = self.store.delete(p["Cluster"], p["Name"], uin=account.uin if account else None)
        self.runner.stop(job["Id"])
        return {}

    def query_logs(self, p: dict, account: Account | None) -> dict:
        try:
            start = parse_query_time(p["StartTime"], self.query_logs_zone)
            end = parse_query_time(p["EndTime"], self.query_logs_zone)
        except ValueError:
            raise ApiError(
                "InvalidParameterValue",
                f"`StartTime`/`EndTime` must look like 2019-01-01 00:00:00 (read in {self.query_logs_zone}).",
            ) from None
        if start > end:
            raise ApiError("InvalidParameterValue", "`StartTime` is after `EndTime`.")
        limit = min(p["Limit"], MAX_LINES_PER_WINDOW)
        logs, context, listover = self.store.query_logs(
            p["Cluster"],
            p["JobName"],
            start,
            end,
            limit,
            p.get("Context"),
            uin=account.uin if account else None,
        )
        return {"Context": context, "Logs": logs, "Listover": listover}
