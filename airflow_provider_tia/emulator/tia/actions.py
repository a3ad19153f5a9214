"""The five TI-A job actions over a JobStore and a runner; ``dispatch`` checks the request, then runs one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.limits import MAX_LINES_PER_WINDOW
from ..core.timefmt import QUERY_ZONES, parse_query_time
from .console import CONSOLE_PATH, job_page
from .schema import COUNT_TYPES, CUSTOM_FIELDS, MACHINE_TYPE_RE, SCHEMAS, VERSION, validate
from .views import public_job

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..core.auth import Account
    from ..runners.base import Runner
    from .store import JobStore


class Service:
    """The five TI-A job actions; ``dispatch`` validates then runs one for the caller's account.

    ``query_logs_zone`` is how QueryLogs reads StartTime/EndTime without an offset: ``"+08:00"`` or ``"utc"``.
    """

    version = VERSION
    actions = frozenset(SCHEMAS)
    console_path = CONSOLE_PATH

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

    def console(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The console page of the job ``cluster``/``name`` (of the account ``account``, a Uin)."""
        return job_page(
            self.store,
            self.runner,
            query.get("cluster", ""),
            query.get("name", ""),
            query.get("account") or None,
        )

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
