"""When a rollout of a TI-ONE service is over: the one decision (``rollout_state``) the operators, the
sensor and the trigger share, whether a service or group has settled (no rollout in progress), whether
another rollout took a service over, and ``RolloutWatch``, which times an Abnormal spell. No Airflow,
no network.

A rollout is over when the service is ``Normal``, serves the model version asked for, and its workload's
updated, available and current replicas all equal the desired replicas (the status alone may stay
``Normal`` throughout a rolling update); ``Abnormal`` may be transient (a pod restarting mid-roll), so
waiters give it a grace period.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from airflow_provider_tia.models.tione.services import ModelService, ServiceGroup

NOT_COMING_UP = frozenset({"Stopping", "Stopped", "CREATE_FAILED", "TIMEOUT_EXCEPTION"})
TRANSITIONAL = frozenset({"", "CREATING", "Pending", "Waiting", "Stopping"})
RolloutState = Literal["serving", "progressing", "abnormal", "stopped", "superseded"]


def rollout_state(service: ModelService, version_id: str | None) -> RolloutState:
    """Whether ``service`` serves model version ``version_id`` (any version when None) now.

    ``serving``: Normal, on that version, and the roll over (updated == available == current == desired
    replicas, at least one). ``abnormal``: Abnormal (may recover: waiters allow a grace period).
    ``stopped``: it will not serve without someone acting (Stopping, Stopped, CREATE_FAILED,
    TIMEOUT_EXCEPTION, or no replicas wanted). ``progressing``: anything else (creating, starting, rolling,
    another version still in place, or a status this module does not know).
    """
    if service.status == "Abnormal":
        return "abnormal"
    if service.status in NOT_COMING_UP or (service.status == "Normal" and service.desired_replicas == 0):
        return "stopped"
    wanted = version_id is None or service.model_version_id == version_id
    counts = {service.updated_replicas, service.available_replicas, service.current_replicas}
    if service.status == "Normal" and wanted and counts == {service.desired_replicas}:
        return "serving"
    return "progressing"


def settled(read: ModelService | ServiceGroup) -> bool:
    """Whether no rollout (ours or another's) is in progress: no service in a transitional status, each
    one's replicas all of its current configuration and as many as it wants (a stable Stopped, Abnormal or
    failed one counts), and the group's weights applied. What a rollout waits for before it reads the
    configuration it may restore: a configuration read mid-roll may be another rollout's."""
    if isinstance(read, ServiceGroup):
        return read.weight_update_status in (None, "UPDATED") and all(settled(s) for s in read.services)
    if read.status in TRANSITIONAL:
        return False
    counts = (read.updated_replicas, read.current_replicas)
    return read.status in NOT_COMING_UP or counts == (read.desired_replicas,) * 2


def superseding(service: ModelService, version_id: str | None, previous_version_id: str | None) -> str | None:
    """The model version another rollout put on ``service``: one that is neither this rollout's
    (``version_id``) nor the one it replaced; None when it is either (or unknown). Rolling back over it
    would undo the other rollout's version."""
    current = service.model_version_id
    return current if current and current not in (version_id, previous_version_id) else None


_RANK = {"serving": 0, "progressing": 1, "abnormal": 2, "stopped": 3, "superseded": 4}
ABNORMAL_GRACE = 300.0  # seconds an Abnormal service may take to recover before a wait fails


@dataclasses.dataclass(frozen=True)
class Rollout:
    """One read of a rollout, as the job lifecycle reads a job (``lifecycle.JobLike``): serving succeeds;
    stopped, or abnormal past the grace period, fails; anything else waits."""

    label: str
    state: RolloutState
    service: ModelService | None
    version_id: str | None
    abnormal_for: float = 0.0
    grace: float = ABNORMAL_GRACE

    @property
    def succeeded(self) -> bool:
        return self.state == "serving"

    @property
    def failed(self) -> bool:
        return self.state in ("stopped", "superseded") or (
            self.state == "abnormal" and self.abnormal_for >= self.grace
        )

    @property
    def is_terminal(self) -> bool:
        return self.succeeded or self.failed

    @property
    def state_name(self) -> str:
        """The rollout state and what it rests on, e.g. ``progressing (Waiting, 0/2 available)``."""
        s = self.service
        if s is None:
            return f"{self.state} (model version {self.version_id} not deployed yet)"
        return f"{self.state} ({s.state_name}, {s.available_replicas}/{s.desired_replicas} available)"

    @property
    def message(self) -> str | None:
        s = self.service
        if s is None:
            return f"{self.label}: the service is not in its group (deleted?)" if self.failed else None
        why = f": {s.reason}" if s.reason else ""
        if self.state == "superseded":
            return f"{s.label} now runs {s.model_version_id}: superseded by another rollout"
        if self.state == "abnormal":
            return f"{s.label} stayed Abnormal for {self.abnormal_for:.0f}s (grace {self.grace:.0f}s){why}"
        return f"{s.label} is {s.state_name} and will not serve on its own{why}"

    def to_dict(self) -> dict[str, Any]:
        if self.service is None:
            return {"ServiceGroupId": None, "ModelVersionId": self.version_id, "Status": None}
        return self.service.to_dict()


class RolloutWatch:
    """Follows one rollout across reads of its group (or service): which service to judge, and since when
    it has been Abnormal. Pure: the caller gives the time.

    ``service_id`` judges that service; else the group's service of ``version_id`` (the best one when
    several run it); with neither, the group's best service. A version no service runs yet is progressing.
    With ``previous_version_id`` (a rollout of ``service_id`` that replaced it), the service running a
    third version is ``superseded`` (``superseding``): another rollout took it over.

    Example::

        watch = RolloutWatch("ms-skdg89rx", "mv-v7-1511805105118769999", grace=300)
        rollout = watch.observe(group, time.monotonic())
        rollout.succeeded, rollout.state_name  # True, "serving (Normal, 2/2 available)"
    """

    def __init__(
        self,
        group_id: str,
        version_id: str | None = None,
        service_id: str | None = None,
        grace: float = ABNORMAL_GRACE,
        previous_version_id: str | None = None,
    ) -> None:
        self.group_id, self.version_id, self.service_id = group_id, version_id, service_id
        self.grace, self.previous_version_id = float(grace), previous_version_id
        self.abnormal_since: float | None = None

    @property
    def label(self) -> str:
        of = f" serving {self.version_id}" if self.version_id else ""
        return f"TI-ONE service {self.service_id or self.group_id}{of}"

    def choose(self, read: ServiceGroup | ModelService) -> ModelService | None:
        services = read.services if isinstance(read, ServiceGroup) else (read,)
        if self.service_id:
            services = tuple(s for s in services if s.id == self.service_id)
        elif self.version_id:
            services = tuple(s for s in services if s.model_version_id == self.version_id)
        return min(services, key=lambda s: _RANK[rollout_state(s, self.version_id)], default=None)

    def observe(self, read: ServiceGroup | ModelService, now: float) -> Rollout:
        service = self.choose(read)
        state: RolloutState = "progressing" if service is None else rollout_state(service, self.version_id)
        if service is None and self.service_id:
            state = "stopped"  # the service was deleted from its group: it will not come to serve
        elif (
            service is not None
            and self.service_id
            and self.previous_version_id
            and superseding(service, self.version_id, self.previous_version_id)
        ):
            state = "superseded"
        if state != "abnormal":
            self.abnormal_since = None
        elif self.abnormal_since is None:
            self.abnormal_since = now
        abnormal_for = 0.0 if self.abnormal_since is None else now - self.abnormal_since
        return Rollout(self.label, state, service, self.version_id, abnormal_for, self.grace)
