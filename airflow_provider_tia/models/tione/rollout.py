"""The rollout of an online service to a new model version, as data: which service of a group is live,
the whole configuration to send (ModifyModelService replaces it: what we assume, as the emulator does, so
everything is sent), and what a rollout records so a retry, a deferral or a crash can finish it or roll
it back (``RolloutRecord``, JSON-safe and without secrets). No Airflow, no network.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import enum
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import JobSpecError, RolloutFailed
from airflow_provider_tia.secrets import MASK, masked

if TYPE_CHECKING:
    from airflow_provider_tia.models.tione.services import ModelService

ROLLOUT_KEY = "tione_rollout"  # task_state_store key: the rollout this task instance started
SECRET_MARK = MASK  # what a secret's value is replaced by in a record

# What ModifyModelService replaces: every CreateModelService field but those of the group or of the
# creation only. A copy of a service's configuration takes these from its ServiceInfo (or the Service).
CONFIG_FIELDS = (
    "ServiceDescription", "ResourceGroupId", "ModelInfo", "ImageInfo", "Env", "Resources", "InstanceType",
    "ScaleMode", "Replicas", "HorizontalPodAutoscaler", "LogEnable", "LogConfig", "CronScaleJobs",
    "ScaleStrategy", "HybridBillingPrepaidReplicas", "ModelHotUpdateEnable", "ScheduledAction", "VolumeMount",
    "ServiceLimit", "ModelTurboEnable", "Command", "ServiceEIP", "CommandBase64", "ServicePort",
    "InstancePerReplicas", "TerminationGracePeriodSeconds", "PreStopCommand", "GrpcEnable", "HealthProbe",
    "RollingUpdate", "Sidecar", "VolumeMounts", "SchedulingStrategy", "InferTemplateId", "Priority",
)  # fmt: skip


class RolloutSuperseded(RolloutFailed):
    """Another rollout (an overlapping run, another mapped instance) moved the service to a version that
    is neither this rollout's nor the one it replaced, before this one was seen serving. Nothing is rolled
    back (that would undo the other's version) and the service serves or rolls to the other version. Not
    retried: a retry would roll this version over the other's again."""


class Strategy(str, enum.Enum):
    """``in_place``: ModifyModelService on the live service; ``blue_green``: a new service (version) of
    the group, weights shifted to it once it serves, the old one stopped and deleted."""

    IN_PLACE = "in_place"
    BLUE_GREEN = "blue_green"


# ------------------------------------------------------------------------------------------ inputs
def model_version_of(value: Any) -> tuple[str, str | None]:
    """(TrainingModelVersionId, TrainingModelId or None) from an Id or ``RegisterModelVersionOperator``'s XCom."""
    if isinstance(value, str) and value.strip().startswith("{"):  # a dict rendered as text by a template
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise JobSpecError("model_version", "is text that looks like a dict but is not one") from None
    if isinstance(value, dict):
        version_id = value.get("TrainingModelVersionId")
        model_id = value.get("TrainingModelId") or value.get("Id")
    else:
        version_id, model_id = value, None
    if not isinstance(version_id, str) or not version_id.strip():
        raise JobSpecError(
            "model_version", "must be a TrainingModelVersionId or a dict with TrainingModelVersionId"
        )
    return version_id.strip(), model_id if isinstance(model_id, str) and model_id else None


def model_info(version_id: str, model_id: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"ModelVersionId": version_id, "ModelType": "NORMAL"}
    if model_id:
        info["ModelId"] = model_id
    return info


# ----------------------------------------------------------------------------------- configuration
def configuration(raw: dict[str, Any]) -> dict[str, Any]:
    """The whole configuration of a service, from its Service dict: what a ModifyModelService sends
    to keep it as it is (unset values left out; a stopped service's replicas are its old count)."""
    info = raw.get("ServiceInfo") or {}
    config: dict[str, Any] = {}
    for name in CONFIG_FIELDS:
        value = info.get(name, raw.get(name))
        if value is None and name in raw:
            value = raw[name]
        value = _pruned(value)
        if value not in (None, "", [], {}):
            config[name] = value
    if raw.get("Status") in ("Stopped", "Stopping") and info.get("OldReplicas"):
        config["Replicas"] = info["OldReplicas"]
    if isinstance(config.get("ServicePort"), int) and config["ServicePort"] <= 0:
        del config["ServicePort"]
    return config


def _pruned(value: Any) -> Any:
    """A copy without the null fields a reply carries for unset values (a request leaves them out)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def rolled(config: dict[str, Any], info: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``config`` serving the model ``info``, with the user's fields (API names) that Modify accepts."""
    changed = copy.deepcopy(config)
    changed.update({k: copy.deepcopy(v) for k, v in overrides.items() if k in CONFIG_FIELDS})
    changed["ModelInfo"] = dict(info)
    return changed


def live_service(services: list[ModelService]) -> ModelService | None:
    """The service of a group that takes the traffic: the running one with the highest weight, then the newest."""
    running = [s for s in services if s.status not in ("Stopped", "Stopping")]
    return max(running, key=lambda s: (s.weight, int(s.raw.get("Version") or 0)), default=None)


def serving_version(
    services: list[ModelService], version_id: str, exclude: str | None = None
) -> ModelService | None:
    """The service of the group configured with ``version_id`` (a rollout done or in flight)."""
    return next((s for s in services if s.id != exclude and s.model_version_id == version_id), None)


# ------------------------------------------------------------------------------------------ secrets
def without_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for a record or a trigger payload: env values and image passwords masked (``SECRET_MARK``)."""
    return masked(config)  # type: ignore[no-any-return]


def with_secrets(config: dict[str, Any], *sources: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """``config`` with each masked value read again from ``sources`` (configurations, first wins) at the
    same place (an EnvVar by its Name); also the places no source had (left empty)."""
    missing: list[str] = []

    def fill(node: Any, others: list[Any], path: str) -> Any:
        if node == SECRET_MARK:
            found = next((o for o in others if isinstance(o, str) and o and o != SECRET_MARK), None)
            if found is None:
                missing.append(path)
            return found or ""
        if isinstance(node, dict):
            return {k: fill(v, [o.get(k) if isinstance(o, dict) else None for o in others], f"{path}.{k}".lstrip("."))
                    for k, v in node.items()}  # fmt: skip
        if isinstance(node, list):
            return [
                fill(item, [_same_item(o, item, i) for o in others], f"{path}[{i}]")
                for i, item in enumerate(node)
            ]
        return node

    return fill(config, list(sources), ""), missing


def _same_item(other: Any, item: Any, index: int) -> Any:
    """The item of the list ``other`` that stands for ``item``: the same Name (an EnvVar), else the same place."""
    if not isinstance(other, list):
        return None
    name = item.get("Name") if isinstance(item, dict) else None
    if name is not None:
        return next((o for o in other if isinstance(o, dict) and o.get("Name") == name), None)
    return other[index] if index < len(other) else None


# ------------------------------------------------------------------------------------------- record
@dataclasses.dataclass
class RolloutRecord:
    """One rollout, as a retry, a resumed deferral or a kill needs it (JSON-safe, no secrets).

    ``service_id`` is the service that must come to serve ``version_id`` (in place: the live one; blue/
    green: the new one, "" until created); ``previous`` the configuration read before (None for a
    first deployment: nothing to roll back to); ``phase`` ``rolling``, then ``shifted`` (blue/green:
    traffic moved to the new service), ``rolling_back``, ``done``, ``rolled_back`` or ``superseded``. ``started`` (epoch
    seconds) is when it began: ``healthy_timeout`` counts from it across tries and deferrals.
    """

    strategy: str
    group_name: str
    version_id: str
    group_id: str = ""
    service_id: str = ""
    old_service_id: str = ""
    previous_version_id: str = ""
    previous: dict[str, Any] | None = None
    started: float = dataclasses.field(default_factory=time.time)
    phase: str = "rolling"

    @property
    def can_roll_back(self) -> bool:
        """Whether there is something to go back to: the configuration read before (in place) or
        the old service (blue/green)."""
        if self.strategy == Strategy.IN_PLACE.value:
            return self.previous is not None and bool(self.previous_version_id)
        return bool(self.old_service_id) and self.old_service_id != self.service_id

    @property
    def nothing_before(self) -> str:
        if not self.previous_version_id and not self.old_service_id:
            return "nothing to roll back to (a first deployment, or one an earlier try left no record of)"
        return "nothing to roll back to"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RolloutRecord | None:
        if not isinstance(data, dict):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None

    def matches(self, group_name: str, version_id: str, strategy: str) -> bool:
        """Whether this record is about the same rollout (a retry of it), not an older one."""
        return (self.group_name, self.version_id, self.strategy) == (group_name, version_id, strategy)


# ------------------------------------------------------------------------------------------- errors
def failure_text(label: str, why: str, events: list[dict[str, Any]], rolled_back: str) -> str:
    """The task's error: what failed, what was done about it, the service's Warning events."""
    lines = [f"{label}: {why}; {rolled_back}"]
    if events:
        lines.append("Warning events:")
        lines += [f"  {e.get('LastTimestamp') or ''} {e.get('Message') or ''}".rstrip() for e in events[:20]]
    return "\n".join(lines)
