"""TI-ONE's training task replies as data: ``TrainingTask`` (DescribeTrainingTask's Detail or a
DescribeTrainingTasks item), its statuses and times, and DescribeLogs' lines (``TrainingLogLine``).

Replies are read leniently (``+08``, no zone = UTC+8, RFC 3339 with nanoseconds); ``""`` counts as unset,
like null. No Airflow, no network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import MalformedResponse
from airflow_provider_tia.models.common import JobBase, JobKey, json_safe_dict, parse_time, reply_text
from airflow_provider_tia.secrets import masked

if TYPE_CHECKING:
    from pendulum import DateTime


# Nine documented statuses; unknown ones are kept and are not terminal.
STATUSES = (
    "SUBMITTING",
    "PENDING",
    "STARTING",
    "RUNNING",
    "STOPPING",
    "STOPPED",
    "FAILED",
    "SUCCEED",
    "SUBMIT_FAILED",
)
ARREARS_STOP = "ARREARS_STOP"
TASK_TIMES = ("CreateTime", "UpdateTime", "StartTime", "EndTime")


@dataclasses.dataclass(frozen=True)
class TrainingTaskKey(JobKey):
    """A TI-ONE training task as Airflow addresses it: its Id once known, its name, and the
    idempotency tag that finds it again when the Id was never seen (a lost CreateTrainingTask reply)."""

    name: str
    id: str | None = None
    tag: str | None = None

    @property
    def label(self) -> str:
        return f"TI-ONE training task {self.name}" + (f" ({self.id})" if self.id else "")

    @property
    def task_id(self) -> str:
        """The Id, for the calls that need it (everything after the task exists)."""
        if self.id is None:
            raise ValueError(f"{self.label} has no Id yet")
        return self.id


def task_label(name: str | None, task_id: str) -> str:
    """How messages name a task: ``TI-ONE training task my-name (train-123)``."""
    return f"TI-ONE training task {name} ({task_id})" if name else f"TI-ONE training task {task_id}"


@dataclasses.dataclass(frozen=True)
class TrainingTask(JobBase):
    """One TI-ONE training task (satisfies ``lifecycle.JobLike``).

    Example::

        task = TrainingTask.from_api(reply["TrainingTaskDetail"])
        task.status, task.is_terminal, task.latest_instance_id  # "RUNNING", False, "train-...-a3vq"

    STOPPED counts as failed: a task the DAG waits on that someone stopped did not do its work.
    """

    SUCCESS = frozenset({"SUCCEED"})
    FAILURE = frozenset({"FAILED", "SUBMIT_FAILED", "STOPPED"})

    id: str
    name: str | None
    status: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_api(cls, data: Any) -> TrainingTask:
        """Parse a Detail or a list item; anything else raises ``MalformedResponse``."""
        if not isinstance(data, Mapping):
            raise MalformedResponse(
                f"expected a training task object in the reply, got {type(data).__name__}"
            )
        task_id = reply_text(data.get("Id"))
        if task_id is None:
            raise MalformedResponse("the reply's training task has no Id")
        status = reply_text(data.get("Status"))
        return cls(
            id=task_id,
            name=reply_text(data.get("Name")),
            status=status.upper() if status else None,
            raw=dict(data),
        )

    @property
    def state_name(self) -> str:
        """The status as text (``SUBMITTING`` when a reply carries none: Create has just returned)."""
        return self.status or "SUBMITTING"

    @property
    def label(self) -> str:
        return task_label(self.name, self.id)

    @property
    def latest_instance_id(self) -> str | None:
        """The current run (DescribeLogs' ServiceId); only a Detail carries it."""
        return reply_text(self.raw.get("LatestInstanceId"))

    @property
    def charge_status(self) -> str | None:
        return reply_text(self.raw.get("ChargeStatus"))

    @property
    def tags(self) -> dict[str, str]:
        """Tags as a dict (the platform's ``qcs:tag:createdBy`` included)."""
        tags = self.raw.get("Tags")
        if not isinstance(tags, list):
            return {}
        return {
            str(tag["TagKey"]): str(tag.get("TagValue") or "")
            for tag in tags
            if isinstance(tag, Mapping) and tag.get("TagKey")
        }

    @property
    def operator(self) -> str | None:
        """Who last acted on the task (OperatorInfo in a Detail, LatestOperatorInfo in a list item)."""
        info = self.raw.get("OperatorInfo") or self.raw.get("LatestOperatorInfo")
        if not isinstance(info, Mapping):
            return None
        if info.get("IsPlatformOperator") is True:
            return "the platform"
        name, uin = reply_text(info.get("SubUinName")), reply_text(info.get("SubUin"))
        if name and uin:
            return f"{name} ({uin})"
        return name or uin

    @property
    def message(self) -> str | None:
        """Why the task ended as it did: arrears, a stop (by whom), else FailureReason, else Message."""
        reason = reply_text(self.raw.get("FailureReason")) or reply_text(self.raw.get("Message"))
        if self.charge_status == ARREARS_STOP:
            text = (
                "the account is in arrears (ChargeStatus ARREARS_STOP): top up the account, then run it again"
            )
            return f"{text} ({reason})" if reason else text
        if self.status == "STOPPED":
            who = self.operator
            text = f"the task was stopped by {who}" if who else "the task was stopped"
            return f"{text} ({reason})" if reason else text
        return reason

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom and trigger events: the API's field names, times as ISO 8601 (UTC),
        Status normalised, and the secrets a reply echoes (EnvVar values, the image password) masked."""
        return {**masked(json_safe_dict(self.raw, TASK_TIMES)), "Status": self.state_name}


def output_prefix(task: Mapping[str, Any]) -> str:
    """The COS key prefix in the ``Output`` bucket under which the task's outputs are: ``Paths[0]`` and
    the task's ``Id`` joined by one ``/``, ending in ``/`` (``models/run1/`` -> ``models/run1/train-123/``).

    ``task`` is a task as the operators return it (``Id``, ``Output: {Bucket, Region, Paths}``). This layout
    is an assumption: the API does not document where outputs go, but Tencent's own client (tikit) imports
    a task's model from ``Paths[0] + Id + "/"``, and the emulator writes there. ``MalformedResponse`` when
    the task has no Id or no output path.
    """
    output, task_id = task.get("Output"), reply_text(task.get("Id"))
    paths = output.get("Paths") if isinstance(output, Mapping) else None
    if task_id is None or not isinstance(paths, list) or not paths or not isinstance(paths[0], str):
        raise MalformedResponse("the training task has no Id or no Output path")
    base = paths[0].rstrip("/")
    return f"{base}/{task_id}/" if base else f"{task_id}/"


# ---------------------------------------------------------------------------------------- log lines
@dataclasses.dataclass(frozen=True)
class TrainingLogLine:
    """One DescribeLogs line (LogIdentity); its ``Id`` identifies it across overlapping windows."""

    id: str
    time: DateTime | None
    pod_name: str
    text: str

    @classmethod
    def from_api(cls, data: Any) -> TrainingLogLine:
        if not isinstance(data, Mapping):
            raise MalformedResponse(
                f"expected a LogIdentity in DescribeLogs' reply, got {type(data).__name__}"
            )
        raw_time = str(data.get("Timestamp") or "")
        pod_name = str(data.get("PodName") or "")
        text = str(data.get("Message") if data.get("Message") is not None else "").rstrip("\n")
        # Id is nullable in the model: a line without one is identified by what it says, where and when.
        line_id = str(data.get("Id") or f"{raw_time}|{pod_name}|{text}")
        return cls(id=line_id, time=parse_time(raw_time), pod_name=pod_name, text=text)

    @property
    def key(self) -> str:
        return self.id

    def format(self) -> str:
        return f"[{self.pod_name}] {self.text}" if self.pod_name else self.text
