"""TI-ONE's online services as data: the replies (``ModelService``, ``ServiceGroup``, ``ServiceCallInfo``);
the rollout decisions on them are ``service_state``'s, the CreateModelService request ``service_spec``'s.
No Airflow, no network.

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
from typing import Any

from airflow_provider_tia.exceptions import MalformedResponse
from airflow_provider_tia.models.common import json_safe_dict, reply_text
from airflow_provider_tia.secrets import masked, register_secrets

# Service.Status: creation states UPPER_CASE, runtime states CamelCase; "" right after Create.
SERVICE_STATUSES = (
    "", "CREATING", "Pending", "Waiting", "Normal", "Abnormal", "Stopping", "Stopped", "CREATE_FAILED",
    "TIMEOUT_EXCEPTION",
)  # fmt: skip
SERVICE_TIMES = ("CreateTime", "UpdateTime")
__all__ = ["SERVICE_STATUSES", "ModelService", "ServiceCallInfo", "ServiceGroup"]


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
