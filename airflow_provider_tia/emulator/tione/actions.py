"""The TI-ONE actions: the eight of training tasks over a TaskStore and a runner, here; the model
repository's (``repo_actions``) and the online services' (``service_actions``) next to them. ``dispatch``
checks the request, then runs one.

Rules of training tasks the service leaves open, as the emulator answers them:

* Stop: PENDING/STARTING/RUNNING -> STOPPING, then STOPPED (``FailureReason`` "User Stop") once the
  processes are gone and the output is uploaded; again while STOPPING: accepted, nothing changes;
  SUBMITTING: ``InternalError.UnSubmittedStatusNotAllowStop``; a terminal task: ``InternalError.NotAllow``.
* Start: a terminal task runs again as a new instance (new LatestInstanceId); else ``InternalError.NotAllow``.
* Delete: a terminal task is removed with its logs; else ``InternalError.NotAllow`` (stop it first).
* Name: Create with the Name of a task of the account still SUBMITTING gives
  ``FailedOperation.DuplicateNameTaskIsCreating``; otherwise names may repeat.
* DescribeTrainingTask with ``InstanceId``: any instance of the task is accepted and the task's current
  detail returned (past runs are not kept).
* ``SchedulePolicy.BackOffLimit`` (restarts of a failed run, 0-10) is checked and kept, but a failed run
  is not restarted.
* ``EncodedStartCmdInfo`` that does not decode to a JSON StartCmdInfo is refused at Create
  (InvalidParameterValue); DescribeTrainingTask shows it decoded as ``StartCmdInfo``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ApiError
from . import views
from .console import CONSOLE_PATH, service_page, task_page, version_page
from .gateway import Gateway
from .importer import Importer
from .logs import describe_logs
from .repo import ModelRepo
from .repo_actions import RepoActions
from .repo_schema import REPO_SCHEMAS
from .runners import RunnerStore, TioneSimulatedRunner, runner_job
from .schema import MAX_PAGE, SCHEMAS, VERSION, check_create, check_model, invalid
from .service_actions import ServiceActions
from .service_schema import SERVICE_SCHEMAS
from .service_store import ServiceStore
from .serving import Serving
from .store import TERMINAL, task_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..core.auth import Account
    from .store import TaskStore

ALL_SCHEMAS = {**SCHEMAS, **REPO_SCHEMAS, **SERVICE_SCHEMAS}
DEFAULT_REGION = "ap-guangzhou"
STOP_WAIT = 30.0  # seconds a stop waits for the processes before it records STOPPED anyway
USER_STOP = "User Stop"
ARREARS = "The account is in arrears: the task was stopped (emulated ARREARS_STOP)."
ORDER_FIELDS = {"CreateTime": "CreateNs", "UpdateTime": "UpdateNs", "StartTime": "StartNs"}
FILTER_FIELDS: dict[str, Callable[[dict], str]] = {
    "Name": lambda t: t["Name"], "Id": lambda t: t["Id"], "Status": lambda t: t["Status"],
    "ChargeType": lambda t: t["Spec"]["ChargeType"], "CHARGE_STATUS": lambda t: t["ChargeStatus"],
    "ResourceGroupId": lambda t: t["Spec"].get("ResourceGroupId", ""), "Creator": lambda t: t["Uin"],
}  # fmt: skip


class TioneService:
    """TI-ONE for the HTTP layer (``version``, ``actions``, ``dispatch``): training tasks, the model
    repository and online services.

    ``runner`` is a TioneLocalRunner or TioneSimulatedRunner, bound here to the store; ``submit_delay``
    keeps a new or restarted task SUBMITTING that many seconds (to test name conflicts). Models and services
    are saved next to the tasks (when the store has a state dir); model files and the services' working
    folders live under ``output_root``; imports read COS through the runner's resolver (``runner.cos``).
    """

    version = VERSION
    actions = frozenset(ALL_SCHEMAS)
    console_path = CONSOLE_PATH

    def __init__(self, store: TaskStore, runner: Any, output_root: Any, submit_delay: float = 0.0) -> None:
        self.store, self.runner, self.submit_delay = store, runner, submit_delay
        self.runner_store = RunnerStore(store, runner.wrap_up)
        runner.bind(self.runner_store, output_root)
        self.handlers: dict[str, Callable[[dict, Account], dict]] = {
            "CreateTrainingTask": self.create, "DescribeTrainingTask": self.describe,
            "DescribeTrainingTasks": self.describe_many, "StopTrainingTask": self.stop,
            "StartTrainingTask": self.start, "DeleteTrainingTask": self.delete,
            "DescribeTrainingTaskPods": self.pods,
            "DescribeLogs": self.logs,
        }  # fmt: skip
        state_dir = store.dir.parent if store.dir is not None else None
        self.repo = ModelRepo(state_dir, Path(output_root))
        self.service_store = ServiceStore(state_dir)
        simulated = isinstance(runner, TioneSimulatedRunner)
        delay = float(runner.defaults["duration"]) if simulated else 0.0
        self.serving = Serving(
            self.service_store, self.repo, Path(output_root) / "tione-serving", simulated, delay
        )
        self.importer = Importer(self.repo, lambda: getattr(runner, "cos", None), simulated)
        self.gateway = Gateway(self.service_store, self.serving)
        self.service_actions = ServiceActions(self.service_store, self.repo, self.serving, self.gateway)
        self.repo_actions = RepoActions(self.repo, self.importer, store, self.service_actions.in_use)
        self.handlers.update(self.repo_actions.handlers)
        self.handlers.update(self.service_actions.handlers)
        runner.add_shutdown_hook(self.shutdown_serving)

    def shutdown_serving(self) -> None:
        """Stop the services' replicas and the gateway (the emulator stops)."""
        self.serving.shutdown()
        self.gateway.shutdown()

    def logs(self, p: dict, account: Account) -> dict:
        """DescribeLogs of training tasks (TRAIN) or of services' pods (INFER)."""
        store = self.service_store if p["Service"] == "INFER" else self.store
        return describe_logs(store, p, account.uin)

    def dispatch(
        self, action: str, params: dict, typed: bool = True, account: Account | None = None, region: str = ""
    ) -> dict:
        """Run ``action`` for ``account`` (required: TI-ONE tasks always belong to the signer); ApiError."""
        assert account is not None, "TI-ONE calls are always signed"
        checked = check_model(ALL_SCHEMAS[action], params, typed)
        if action in ("CreateTrainingTask", "CreateModelService"):
            checked["Region"] = region or DEFAULT_REGION
        return self.handlers[action](checked, account)

    def console(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The console page of ``id``: a task (``train-``), a model version (``mv-``), a service or group (``ms-``)."""
        page_id = query.get("id", "")
        if page_id.startswith("mv-"):
            return version_page(self.repo, page_id)
        if page_id.startswith("ms-"):
            return service_page(self.service_store, page_id)
        return task_page(self.store, page_id)

    def recover(self) -> None:
        """After a restart: resubmit SUBMITTING tasks, end STOPPING ones, hand the others to the runner."""
        for task in self.store.unfinished():
            iid = task["LatestInstanceId"]
            if task["Status"] == "SUBMITTING":
                self._submit(iid)
            elif task["Status"] == "STOPPING":
                self.runner_store.end(iid, "STOPPED", USER_STOP, "NOT_BILLING", ("STOPPED", USER_STOP))
            else:
                self.runner.recover(runner_job(task))
        self.importer.recover()
        if self.service_store.groups():
            self.gateway.ensure_started()
        self.service_actions.recover()

    # ---- actions -----------------------------------------------------------------------------
    def create(self, p: dict, account: Account) -> dict:
        region = p.pop("Region")
        check_create(p)
        problem = self.runner.validate(p)
        if problem:
            raise ApiError("InvalidParameterValue", problem)
        task = self.store.create(p, account.uin, account.app_id, region)
        self._schedule(task["LatestInstanceId"])
        return {"Id": task["Id"]}

    def _schedule(self, instance_id: str) -> None:
        if self.submit_delay > 0:
            timer = threading.Timer(self.submit_delay, self._submit, (instance_id,))
            timer.daemon = True
            timer.start()
        else:
            self._submit(instance_id)

    def _submit(self, instance_id: str) -> None:
        """SUBMITTING -> PENDING and hand the instance to the runner."""

        def fn(task: dict) -> bool:
            if task["Status"] != "SUBMITTING":
                return False
            task["Status"] = "PENDING"
            return True

        if self.store.update(instance_id, fn):
            task = self.store.get(task_of(instance_id))
            if task is not None:
                self.runner.start(runner_job(task))

    def describe(self, p: dict, account: Account) -> dict:
        task = self.store.require(p["Id"], account.uin)
        if p.get("InstanceId") and p["InstanceId"] not in task["Instances"]:
            raise ApiError("ResourceNotFound", f"The instance {p['InstanceId'][:80]!r} does not exist.")
        return {"TrainingTaskDetail": views.detail(task)}

    def describe_many(self, p: dict, account: Account) -> dict:
        limit, offset = p.get("Limit", 10), p.get("Offset", 0)
        if limit > MAX_PAGE:
            raise ApiError("InvalidParameterValue.PageLimitExceeded", f"`Limit` must be at most {MAX_PAGE}.")
        if limit < 0:
            raise invalid("Limit", "must not be negative")
        if offset < 0:
            raise invalid("Offset", "must not be negative")
        order = p.get("Order", "DESC")
        if order not in ("ASC", "DESC"):
            raise invalid("Order", "must be ASC or DESC")
        field = p.get("OrderField", "UpdateTime")
        if field not in ORDER_FIELDS:
            raise invalid("OrderField", f"must be one of {', '.join(ORDER_FIELDS)}")
        for f in p.get("Filters", []):
            if f.get("Name") not in FILTER_FIELDS:
                raise invalid("Filters.Name", f"must be one of {', '.join(FILTER_FIELDS)}")
        tasks = [t for t in self.store.list(account.uin) if _selected(t, p)]
        key = ORDER_FIELDS[field]
        tasks.sort(key=lambda t: (t[key] or 0, t["CreateNs"]), reverse=order == "DESC")
        page = tasks[offset : offset + limit]
        return {"TrainingTaskSet": [views.list_item(t) for t in page], "TotalCount": len(tasks)}

    def stop(self, p: dict, account: Account) -> dict:
        self.end_run(p["Id"], account.uin, USER_STOP, "NOT_BILLING")
        return {}

    def end_run(self, task_id: str, uin: str | None, reason: str, charge: str) -> None:
        """Stop the task's run: STOPPING now, STOPPED (``reason``, ChargeStatus ``charge``) once it is down."""
        task = self.store.require(task_id, uin)
        status, iid = task["Status"], task["LatestInstanceId"]
        if status == "STOPPING":
            return
        if status == "SUBMITTING":
            raise ApiError("InternalError.UnSubmittedStatusNotAllowStop", "The task is not submitted yet.")
        if status in TERMINAL:
            raise ApiError("InternalError.NotAllow", f"The task is already {status}.")

        def fn(t: dict) -> bool:
            moved = t["Status"] not in TERMINAL and t["Status"] != "STOPPING"
            t["Status"] = "STOPPING" if moved else t["Status"]
            return moved

        if not self.store.update(iid, fn):
            raise ApiError("InternalError.NotAllow", f"The task is already {self.store.status(task_id)}.")
        self.runner.stop(iid)

        def finish() -> None:
            self.runner.wait_ended(iid, STOP_WAIT)
            self.runner.wrap_up(iid)
            self.runner_store.end(iid, "STOPPED", reason, charge, ("STOPPED", reason))

        threading.Thread(target=finish, name=f"tione-stop-{task_id}", daemon=True).start()

    def start(self, p: dict, account: Account) -> dict:
        task = self.store.rerun(p["Id"], account.uin)
        self._schedule(task["LatestInstanceId"])
        return {}

    def delete(self, p: dict, account: Account) -> dict:
        task = self.store.require(p["Id"], account.uin)
        if task["Status"] not in TERMINAL:
            raise ApiError(
                "InternalError.NotAllow", f"The task is {task['Status']}: stop it before deleting."
            )
        self.store.delete(p["Id"], account.uin)
        return {}

    def pods(self, p: dict, account: Account) -> dict:
        return views.pods(self.store.require(p["Id"], account.uin))


def _selected(task: dict, p: dict) -> bool:
    """Filters AND-ed (Values OR-ed; Fuzzy: substring; Negative: not), TagFilters AND-ed."""
    for f in p.get("Filters", []):
        value = FILTER_FIELDS[f["Name"]](task)
        values = f.get("Values", [])
        hit = any((v in value) if f.get("Fuzzy") else v == value for v in values) if values else True
        if hit == bool(f.get("Negative")):
            return False
    task_tags = {(t["TagKey"], t["TagValue"]) for t in views.tags(task)}
    for tf in p.get("TagFilters", []):
        keyed = {v for k, v in task_tags if k == tf.get("TagKey")}
        wanted = set(tf.get("TagValues", []))
        if not keyed or (wanted and not keyed & wanted):
            return False
    return True
