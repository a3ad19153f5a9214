"""The online services' calls on ``TIONEHook`` (CreateModelService, ModifyModelService, Describe*,
weights, call info, events, logs, and calling the service): a mixin, so one hook keeps one connection,
one error table and one retry policy for every TI-ONE action.

The paging of DescribeModelServiceGroups is written once (``dialogue``) for the hook and for the async
client a trigger's batched poller uses: many watched groups are read a page (100) at a time.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import TYPE_CHECKING, Any, Literal, overload

from airflow_provider_tia.dialogue import Dialogue, adrive, drive, read_or_none, unless_gone
from airflow_provider_tia.exceptions import (
    InvalidParameter,
    JobNotFound,
    JobSpecError,
    MalformedResponse,
    ModelServiceCallError,
    TencentCloudApiError,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.models.common import reply_item, reply_items, rfc3339
from airflow_provider_tia.models.tione.services import ModelService, ServiceCallInfo, ServiceGroup
from airflow_provider_tia.secrets import redact

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable

    from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec

GROUPS_PAGE_SIZE = 100  # DescribeModelServiceGroups' maximum Limit
EVENTS_LIMIT = 100  # DescribeEvents' maximum Limit
LOG_WINDOW = datetime.timedelta(days=1)
MAX_REPLY_TEXT = 500  # characters of a failed prediction's reply quoted in the error


class ModelServiceCalls:
    """Online-service calls of ``TIONEHook`` (sync)."""

    if TYPE_CHECKING:

        @property
        def log(self) -> logging.Logger: ...

        def call(
            self, action: str, params: dict[str, Any], *, before_retry: Any = None
        ) -> dict[str, Any]: ...

    def create_model_service(self, spec: ModelServiceSpec) -> ModelService:
        """CreateModelService -> the new service (``Status ""`` at first: poll it). A lost reply is
        reconciled, never duplicated: TI-ONE takes no client token, so before a retry (and after a call
        that failed once it was attempted more than once) the service is looked up: for a new group, the
        one group of that name; for a new version, a version of the group that was not there before."""
        request = spec.to_request()
        group_id = request.get("ServiceGroupId")
        before = {s.id for s in self.describe_model_service_group(group_id).services} if group_id else set()

        def created() -> ModelService | None:
            if group_id:
                new = [s for s in self.describe_model_service_group(group_id).services if s.id not in before]
            else:
                groups = self.find_model_service_groups(request["ServiceGroupName"])
                new = list(groups[0].services) if len(groups) == 1 else []
            return new[0] if len(new) == 1 else None

        def created_meanwhile() -> dict[str, Any] | None:
            found = created()
            return {"Service": dict(found.raw), "RequestId": None} if found is not None else None

        try:
            response = self.call("CreateModelService", request, before_retry=created_meanwhile)
        except JobNotFound as error:  # what is missing is a model version or group the request names
            raise _as_bad_input(error) from None
        except TencentCloudApiError as error:
            if error.attempts <= 1 and not isinstance(error, TransientError):
                raise
            try:
                found = created()
            except TencentCloudError:
                raise error from None
            if found is None:
                raise
            self.log.warning("CreateModelService: %s; %s was created meanwhile, using it", error, found.label)
            return found
        service = reply_item("CreateModelService", response, "Service", ModelService.from_api)
        self.log.info("Created %s (RequestId: %s)", service.label, response.get("RequestId"))
        return service

    def modify_model_service(self, params: dict[str, Any]) -> ModelService | None:
        """ModifyModelService with ``params`` as sent: the caller gives the WHOLE configuration (the
        service may replace it as a whole) or a ``ServiceAction``. The updated service when the reply
        carries one (it is nullable). Only the ServiceId is logged: the configuration may hold secrets."""
        response = self.call("ModifyModelService", params)
        self.log.info(
            "Modified TI-ONE service %s (RequestId: %s)", params.get("ServiceId"), response.get("RequestId")
        )
        return ModelService.from_api(response["Service"]) if response.get("Service") else None

    def describe_model_service(self, service_id: str, missing_ok: bool = False) -> ModelService | None:
        """DescribeModelService; ``JobNotFound`` (or None with ``missing_ok``) when it does not exist."""
        return drive(read_or_none(_describe_service(service_id), missing_ok=missing_ok), self.call)

    @overload
    def describe_model_service_group(
        self, group_id: str, missing_ok: Literal[False] = False
    ) -> ServiceGroup: ...
    @overload
    def describe_model_service_group(self, group_id: str, missing_ok: bool) -> ServiceGroup | None: ...
    def describe_model_service_group(self, group_id: str, missing_ok: bool = False) -> ServiceGroup | None:
        """DescribeModelServiceGroup: the group and all its services (None with ``missing_ok`` when gone)."""
        return drive(read_or_none(_describe_group(group_id), missing_ok=missing_ok), self.call)

    def find_model_service_groups(
        self, name: str | None = None, *, ids: Iterable[str] | None = None
    ) -> list[ServiceGroup]:
        """DescribeModelServiceGroups, every page: the groups of this exact name and/or these Ids."""
        return drive(_find_groups(name=name, ids=ids), self.call)

    def modify_service_group_weights(self, group_id: str, weights: dict[str, int]) -> None:
        """ModifyServiceGroupWeights (``{ServiceId: weight}``; traffic follows their proportions). It
        settles asynchronously: poll the group's ``weight_update_status`` for UPDATED."""
        entries = [{"ServiceId": sid, "Weight": _weight(sid, w)} for sid, w in weights.items()]
        if not entries:
            raise JobSpecError("weights", "must name at least one service")
        response = self.call("ModifyServiceGroupWeights", {"ServiceGroupId": group_id, "Weights": entries})
        self.log.info("Weights of %s set to %s (RequestId: %s)", group_id, weights, response.get("RequestId"))

    def delete_model_service(self, service_id: str, missing_ok: bool = True) -> bool:
        """DeleteModelService (stop it first: a running service is refused). False when already gone."""
        response = drive(
            unless_gone("DeleteModelService", {"ServiceId": service_id}, missing_ok=missing_ok), self.call
        )
        if response is not None:
            self.log.info("Deleted TI-ONE service %s (RequestId: %s)", service_id, response.get("RequestId"))
        return response is not None

    def describe_service_call_info(self, group_id: str) -> ServiceCallInfo:
        """DescribeModelServiceCallInfo: the endpoint and (auth on) the token, registered as a secret."""
        response = self.call("DescribeModelServiceCallInfo", {"ServiceGroupId": group_id})
        return ServiceCallInfo.from_api(group_id, response)

    def describe_service_events(self, service_id: str, warnings_only: bool = True) -> list[dict[str, Any]]:
        """DescribeEvents (Service INFER) of a service, newest first: why it is Abnormal or Waiting."""
        params: dict[str, Any] = {"Service": "INFER", "ServiceId": service_id, "Limit": EVENTS_LIMIT}
        if warnings_only:
            params["Filters"] = [{"Name": "Type", "Values": ["Warning"]}]
        events = self.call("DescribeEvents", params).get("Events") or []
        return [{**e, "Message": redact(str(e.get("Message") or ""))} for e in events if isinstance(e, dict)]

    def service_log_lines(self, service_id: str, limit: int = 50) -> list[str]:
        """The service's last ``limit`` log lines of the past day (DescribeLogs, Service INFER), oldest first."""
        from airflow_provider_tia.models.tione.training_task import TrainingLogLine

        end = datetime.datetime.now(datetime.timezone.utc)
        response = self.call("DescribeLogs", {
            "Service": "INFER", "ServiceId": service_id, "StartTime": rfc3339(end - LOG_WINDOW),  # type: ignore[arg-type]
            "EndTime": rfc3339(end), "Order": "DESC", "Limit": limit,  # type: ignore[arg-type]
        })  # fmt: skip
        lines = reply_items("DescribeLogs", response, "Content", TrainingLogLine.from_api)
        return [redact(line.format()) for line in reversed(lines)]

    def call_model_service(self, group_id: str, payload: Any, timeout: float = 30.0) -> Any:
        """POST ``payload`` as JSON to the group's prediction URL (``…/v1/models/m:predict``, the token in
        ``Authorization`` when auth is on) and return the decoded JSON reply (text if it is not JSON).

        ``ModelServiceCallError`` names the group and quotes the reply (redacted); never the token."""
        import httpx

        info = self.describe_service_call_info(group_id)
        try:
            body = json.dumps(payload).encode()
        except (TypeError, ValueError) as error:
            raise JobSpecError("payload", f"is not JSON-serialisable ({error})") from None
        what = f"TI-ONE service group {group_id}"
        try:
            reply = httpx.post(info.predict_url, content=body, headers=info.headers(), timeout=timeout)
        except httpx.HTTPError as error:
            raise ModelServiceCallError(
                redact(f"Calling {what} failed: {type(error).__name__}: {error}")
            ) from None
        if reply.status_code >= 400:
            text = redact(reply.text[:MAX_REPLY_TEXT])
            raise ModelServiceCallError(f"Calling {what} failed: HTTP {reply.status_code}: {text}")
        self.log.info("%s answered HTTP %s (%d bytes)", what, reply.status_code, len(reply.content))
        try:
            return reply.json()
        except ValueError:
            return reply.text


class AsyncModelServiceCalls:
    """Online-service calls of ``AsyncTIONEClient`` (what a trigger reads)."""

    if TYPE_CHECKING:

        async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]: ...

    async def describe_model_service(self, service_id: str, missing_ok: bool = False) -> ModelService | None:
        return await adrive(read_or_none(_describe_service(service_id), missing_ok=missing_ok), self.call)

    @overload
    async def describe_model_service_group(
        self, group_id: str, missing_ok: Literal[False] = False
    ) -> ServiceGroup: ...
    @overload
    async def describe_model_service_group(self, group_id: str, missing_ok: bool) -> ServiceGroup | None: ...
    async def describe_model_service_group(
        self, group_id: str, missing_ok: bool = False
    ) -> ServiceGroup | None:
        return await adrive(read_or_none(_describe_group(group_id), missing_ok=missing_ok), self.call)

    async def find_model_service_groups(
        self, name: str | None = None, *, ids: Iterable[str] | None = None
    ) -> list[ServiceGroup]:
        """The async twin of ``TIONEHook.find_model_service_groups``: one call per 100 groups asked for."""
        return await adrive(_find_groups(name=name, ids=ids), self.call)


# ------------------------------------------------------------------------------- shared call logic
def _weight(service_id: str, weight: Any) -> int:
    if isinstance(weight, str) and weight.strip().isdigit():
        weight = int(weight)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
        raise JobSpecError(f"weights[{service_id!r}]", f"must be an integer >= 0, got {weight!r:.40}")
    return weight


def _as_bad_input(error: JobNotFound) -> InvalidParameter:
    bad = InvalidParameter(error.message, code=error.code, request_id=error.request_id)
    bad.attempts = error.attempts
    return bad


def _describe_service(service_id: str) -> Dialogue[ModelService]:
    response = yield "DescribeModelService", {"ServiceId": service_id}
    return reply_item("DescribeModelService", response, "Service", ModelService.from_api)


def _describe_group(group_id: str) -> Dialogue[ServiceGroup]:
    response = yield "DescribeModelServiceGroup", {"ServiceGroupId": group_id}
    return reply_item("DescribeModelServiceGroup", response, "ServiceGroup", ServiceGroup.from_api)


def _find_groups(*, name: str | None, ids: Iterable[str] | None) -> Dialogue[list[ServiceGroup]]:
    """Every page of DescribeModelServiceGroups, the filters applied again to what comes back.

    Many Ids are asked a page's worth at a time (one filter of 1,000 values may be refused). The end is a
    short page, a page of nothing new (a service that ignored Offset), or as many groups as Ids asked.
    Name matching may be fuzzy: only the exact name is kept.
    """
    wanted = sorted(set(ids)) if ids is not None else None
    id_sets = [None] if wanted is None else [wanted[i : i + GROUPS_PAGE_SIZE] for i in range(0, len(wanted), GROUPS_PAGE_SIZE)]  # fmt: skip
    found: dict[str, ServiceGroup] = {}
    for id_set in id_sets:
        most = len(id_set) if id_set is not None else math.inf
        filters = [{"Name": "ServiceGroupId", "Values": id_set}] if id_set is not None else []
        if name is not None:
            filters.append({"Name": "ServiceGroupName", "Values": [name]})
        params: dict[str, Any] = {
            "Offset": 0,
            "Limit": GROUPS_PAGE_SIZE,
            **({"Filters": filters} if filters else {}),
        }
        while True:
            response = yield "DescribeModelServiceGroups", dict(params)
            page = reply_items("DescribeModelServiceGroups", response, "ServiceGroups", ServiceGroup.from_api)
            new = [g for g in page if g.id not in found]
            found.update(
                (g.id, g)
                for g in new
                if (name is None or g.name == name) and (id_set is None or g.id in id_set)
            )
            params["Offset"] += len(page)
            if len(page) < GROUPS_PAGE_SIZE or not new or params["Offset"] >= most:
                break
    return list(found.values())  # fmt: skip


__all__ = ["AsyncModelServiceCalls", "MalformedResponse", "ModelServiceCallError", "ModelServiceCalls"]
