"""TI-ONE's online services as data: the replies (``ModelService``, ``ServiceGroup``, ``ServiceCallInfo``)
and the one rollout decision (``rollout_state``) that the operators, the sensor and the trigger share; the
CreateModelService request is ``service_spec``'s. No Airflow, no network.

A service group (``ms-xxxxxxxx``) holds the endpoint, the tokens and the traffic weights; each of its
services (``ms-xxxxxxxx-<n>``, a "version" in the console) runs one model version on its own replicas.
Where the service's rules are not published this module assumes, and says so where it matters:

* a rollout is over when the service is ``Normal``, serves the model version asked for, and its
  workload's updated, available and current replicas all equal the desired replicas (the status alone
  may stay ``Normal`` throughout a rolling update);
* ``Abnormal`` may be transient (a pod restarting mid-roll): waiters give it a grace period;
* a new version added to a group needs ``NewVersion=true``: the spec sets it when ``service_group_id``
  is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from airflow_provider_tia.exceptions import MalformedResponse
from airflow_provider_tia.models.common import json_safe_dict, reply_text
from airflow_provider_tia.secrets import masked, register_secrets

# Service.Status: creation states UPPER_CASE, runtime states CamelCase; "" right after Create.
SERVICE_STATUSES = (
    "", "CREATING", "Pending", "Waiting", "Normal", "Abnormal", "Stopping", "Stopped", "CREATE_FAILED",
    "TIMEOUT_EXCEPTION",
)  # fmt: skip
NOT_COMING_UP = frozenset({"Stopping", "Stopped", "CREATE_FAILED", "TIMEOUT_EXCEPTION"})
TRANSITIONAL = frozenset({"", "CREATING", "Pending", "Waiting", "Stopping"})
RolloutState = Literal["serving", "progressing", "abnormal", "stopped", "superseded"]
SERVICE_TIMES = ("CreateTime", "UpdateTime")
__all__ = [
    "SERVICE_STATUSES", "ModelService", "RolloutState", "RolloutWatch", "ServiceCallInfo", "ServiceGroup",
    "rollout_state", "settled", "superseding",
]  # fmt: skip


def _tokens_of(raw: Any) -> list[str]:
    """Every AuthTokens[].Base.Value in a reply object (registered as secrets when read)."""
    tokens = raw.get("AuthTokens") if isinstance(raw, Mapping) else None
    return [
        str(t["Base"]["Value"]) for t in tokens or () if isinstance(t, Mapping)
        and isinstance(t.get("Base"), Mapping) and t["Base"].get("Value")
    ]  # fmt: skip


def _sub(data: Any, key: str) -> Mapping[str, Any]:
    """``data[key]`` when it is an object, else an empty one (replies use null, "" and {} alike)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _object(kind: str, data: Any, id_key: str) -> tuple[Mapping[str, Any], str]:
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"expected a {kind} object in the reply, got {type(data).__name__}")
    found = reply_text(data.get(id_key))
    if found is None:
        raise MalformedResponse(f"the reply's {kind} has no {id_key}")
    return data, found


# ---------------------------------------------------------------------------------------- replies
@dataclasses.dataclass(frozen=True)
class ModelService:
    """One service (a version of a group), from DescribeModelService or a group's ``Services``.

    Example::

        service = ModelService.from_api(reply["Service"])
        service.status, service.model_version_id, service.available_replicas  # "Normal", "mv-v7-…", 2
    """

    id: str
    group_id: str
    name: str | None
    status: str
    model_version_id: str | None
    desired_replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    current_replicas: int
    weight: int
    raw: Mapping[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_api(cls, data: Any) -> ModelService:
        data, service_id = _object("Service", data, "ServiceId")
        info = _sub(data, "ServiceInfo")
        work = _sub(info, "Status")
        model = _sub(info, "ModelInfo")
        return cls(
            id=service_id,
            group_id=reply_text(data.get("ServiceGroupId")) or service_id.rsplit("-", 1)[0],
            name=reply_text(data.get("ServiceGroupName")),
            status=data.get("Status") if isinstance(data.get("Status"), str) else "",
            model_version_id=reply_text(model.get("ModelVersionId")),
            desired_replicas=_count(info.get("Replicas")),
            updated_replicas=_count(work.get("UpdatedReplicas")),
            ready_replicas=_count(work.get("ReadyReplicas")),
            available_replicas=_count(work.get("AvailableReplicas")),
            current_replicas=_count(work.get("Replicas")),
            weight=_count(data.get("Weight")),
            raw=dict(data),
        )

    @property
    def state_name(self) -> str:
        """The status as text (``CREATING`` for the ``""`` a Create answers with)."""
        return self.status or "CREATING"

    @property
    def label(self) -> str:
        return f"TI-ONE service {self.name} ({self.id})" if self.name else f"TI-ONE service {self.id}"

    @property
    def reason(self) -> str | None:
        """Why the service is not serving: the workload's Reason, else a creation failure."""
        info = self.raw.get("ServiceInfo") if isinstance(self.raw.get("ServiceInfo"), Mapping) else {}
        work = _sub(info, "Status")
        failed = reply_text(self.raw.get("CreateFailedReason"))
        return reply_text(work.get("Reason")) or (failed if failed != "CREATE_SUCCEED" else None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom and trigger events: the API's field names, times as ISO 8601 (UTC),
        secrets (env values, image passwords) masked."""
        return masked(json_safe_dict(self.raw, SERVICE_TIMES))  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class ServiceGroup:
    """A service group with its services (DescribeModelServiceGroup(s)); its tokens are masked secrets."""

    id: str
    name: str | None
    services: tuple[ModelService, ...]
    raw: Mapping[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_api(cls, data: Any) -> ServiceGroup:
        data, group_id = _object("ServiceGroup", data, "ServiceGroupId")
        register_secrets(*_tokens_of(data))
        services = data.get("Services") if isinstance(data.get("Services"), list) else []
        return cls(group_id, reply_text(data.get("ServiceGroupName")),
                   tuple(ModelService.from_api(s) for s in services), dict(data))  # fmt: skip

    @property
    def weight_update_status(self) -> str | None:
        """UPDATING, UPDATED or UPDATE_FAILED after ModifyServiceGroupWeights."""
        return reply_text(self.raw.get("WeightUpdateStatus"))

    def service(self, service_id: str) -> ModelService | None:
        return next((s for s in self.services if s.id == service_id), None)

    def to_dict(self) -> dict[str, Any]:
        return masked(json_safe_dict(self.raw, SERVICE_TIMES))  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class ServiceCallInfo:
    """Where and how to call a group (DescribeModelServiceCallInfo). The token is a registered secret and
    never printed (``repr`` and ``to_dict`` leave it out).

    ``predict_url`` assumes the new gateway's ``<InternetEndpoint>/<group Id>/v1/models/m:predict`` (the
    group Id is not repeated when the endpoint already ends with it), else the legacy address
    ``<OuterHttpsAddr or OuterHttpAddr>/v1/models/m:predict``.
    """

    group_id: str
    endpoint: str
    token: str | None = dataclasses.field(default=None, repr=False)
    authorization_enable: bool = False

    @classmethod
    def from_api(cls, group_id: str, response: Mapping[str, Any]) -> ServiceCallInfo:
        v2, legacy = _sub(response, "ServiceCallInfoV2"), _sub(response, "ServiceCallInfo")
        token = reply_text(v2.get("AuthToken")) or next(iter(_tokens_of(v2)), None)
        register_secrets(token, *_tokens_of(v2))
        internet = (reply_text(v2.get("InternetEndpoint")) or "").rstrip("/")
        if internet:
            endpoint = internet if internet.endswith(f"/{group_id}") else f"{internet}/{group_id}"
        else:
            endpoint = (
                reply_text(legacy.get("OuterHttpsAddr")) or reply_text(legacy.get("OuterHttpAddr")) or ""
            ).rstrip("/")
        if not endpoint:
            raise MalformedResponse(
                f"DescribeModelServiceCallInfo: no endpoint for the service group {group_id}"
            )
        auth = bool(v2.get("AuthorizationEnable", legacy.get("AuthorizationEnable", False)))
        return cls(group_id, endpoint, token if auth else None, auth)

    @property
    def predict_url(self) -> str:
        return f"{self.endpoint}/v1/models/m:predict"

    def headers(self) -> dict[str, str]:
        """The request headers: JSON, and the bare token in ``Authorization`` when auth is on."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        return headers

    def to_dict(self) -> dict[str, Any]:
        return {"ServiceGroupId": self.group_id, "Endpoint": self.endpoint, "PredictUrl": self.predict_url,
                "AuthorizationEnable": self.authorization_enable}  # fmt: skip


# --------------------------------------------------------------------------------------- rollout
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
