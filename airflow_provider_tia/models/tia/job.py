"""TI-A's jobs as data: the reply (``Job``), its states, its key (``TIAJobKey``), and QueryLogs' lines
and time zone.

No Airflow, no network: everything here is unit-tested without I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import MalformedResponse
from airflow_provider_tia.models.common import (
    CHINA_STANDARD_TIME,
    JobBase,
    JobKey,
    json_safe_dict,
    parse_time,
)

if TYPE_CHECKING:
    from pendulum import DateTime


class JobState(str, Enum):
    """Documented TI-A job states (``Created -> Running -> Succeeded | Failed``)."""

    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


# The official ListJobs example spells success "Succeed": read both.
_STATE_ALIASES = {"succeed": JobState.SUCCEEDED, "success": JobState.SUCCEEDED}


def parse_state(value: Any) -> JobState | str | None:
    """Map a reply's State to ``JobState``; unknown states are kept as their string, never an error."""
    if value is None or value == "":
        return None
    text = str(value)
    for state in JobState:
        if state.value.lower() == text.lower():
            return state
    return _STATE_ALIASES.get(text.lower(), text)


def format_query_time(moment: DateTime, zone: datetime.tzinfo = CHINA_STANDARD_TIME) -> str:
    """Format a moment for QueryLogs' StartTime/EndTime (``2019-01-01 00:00:00``, read in ``zone``)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass
class QueryLogsZone:
    """How the service reads QueryLogs' zone-less StartTime/EndTime: UTC, +08:00, or not known yet.

    The API documentation leaves it open. Until it is known, windows are sent so that both readings cover
    the wanted interval: the start written in UTC (the earlier text) and the end in +08:00 (the
    later text). Under the +08:00 reading such a start reaches 8 hours back, so lines older than the
    asked start come back: that proves the reading, and later windows are exact. Under the UTC
    reading no such line can come back and the wider end costs nothing.

    Example::

        zone = QueryLogsZone()
        start_text, end_text = zone.window(start, end)
        zone.learn(start, [line.time for line in lines])
    """

    reading: str | None = None  # "utc", "+08:00" or None (unknown)

    def window(self, start: DateTime, end: DateTime) -> tuple[str, str]:
        if self.reading == "utc":
            return format_query_time(start, datetime.timezone.utc), format_query_time(
                end, datetime.timezone.utc
            )
        if self.reading == "+08:00":
            return format_query_time(start), format_query_time(end)
        return format_query_time(start, datetime.timezone.utc), format_query_time(end)

    def learn(self, start: DateTime, times: Sequence[DateTime | None]) -> None:
        """Settle the reading from the lines a window returned (windows have 1 s resolution)."""
        window_start = start.replace(microsecond=0)  # what the UTC reading would have started from
        if self.reading is None and any(t is not None and t < window_start for t in times):
            self.reading = "+08:00"


@dataclasses.dataclass(frozen=True)
class TIAJobKey(JobKey):
    """A TI-A job as Airflow addresses it: name and cluster (its identity), and its Id once read (so a
    job created later under the same name is told apart)."""

    name: str
    cluster: str
    id: str | None = None

    @property
    def label(self) -> str:
        return job_label(self.name, self.cluster)


def job_label(name: str, cluster: str | None) -> str:
    return f"TI-A job {name}" + (f" in {cluster}" if cluster else "")


_JOB_TIMES = ("CreateTime", "StartTime", "EndTime", "DelTime")


@dataclasses.dataclass(frozen=True)
class Job(JobBase):
    """A TI-A job as read from CreateJob, DescribeJob or ListJobs.

    Example::

        job = Job.from_api(reply["Response"]["Job"])
        job.state, job.is_terminal, job.create_time  # JobState.CREATED, False, DateTime(...)
    """

    SUCCESS = frozenset({JobState.SUCCEEDED.value})
    FAILURE = frozenset({JobState.FAILED.value})

    name: str
    cluster: str | None
    state: JobState | str | None
    message: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_api(cls, data: Any) -> Job:
        """Parse a reply's Job object; a reply that is not one raises ``MalformedResponse``."""
        if not isinstance(data, Mapping):
            raise MalformedResponse(f"expected a Job object in the reply, got {type(data).__name__}")
        name = data.get("Name")
        if not isinstance(name, str) or not name:
            raise MalformedResponse("the reply's Job has no Name")
        cluster = data.get("Cluster")
        message = data.get("Message")
        return cls(
            name=name,
            cluster=cluster if isinstance(cluster, str) else None,
            state=parse_state(data.get("State")),
            message=message if isinstance(message, str) else None,
            raw=dict(data),
        )

    @property
    def label(self) -> str:
        """How messages name the job: ``TI-A job test-job in ap-beijing``."""
        return job_label(self.name, self.cluster)

    @property
    def state_name(self) -> str:
        """The state as text (``Created`` when a fresh CreateJob reply carries none)."""
        if self.state is None:
            return JobState.CREATED.value
        return self.state.value if isinstance(self.state, JobState) else str(self.state)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom: the API's field names, times as ISO-8601 UTC, State normalised."""
        return {**json_safe_dict(self.raw, _JOB_TIMES), "State": self.state_name}


# ---------------------------------------------------------------------------------------------- logs
@dataclasses.dataclass(frozen=True)
class LogLine:
    """One QueryLogs line."""

    time: DateTime | None
    pod_name: str
    container_name: str
    text: str
    raw_time: str

    @classmethod
    def from_api(cls, data: Any) -> LogLine:
        if not isinstance(data, Mapping):
            raise MalformedResponse(f"expected a Log object in QueryLogs' reply, got {type(data).__name__}")
        raw_time = str(data.get("Time") or "")
        return cls(
            time=parse_time(raw_time),
            pod_name=str(data.get("PodName") or ""),
            container_name=str(data.get("ContainerName") or ""),
            text=str(data.get("Log") if data.get("Log") is not None else "").rstrip("\n"),
            raw_time=raw_time,
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a line, used to print each line once across overlapping query windows."""
        return (self.raw_time, self.pod_name, self.container_name, self.text)

    def format(self) -> str:
        return f"[{self.pod_name}] {self.text}"
