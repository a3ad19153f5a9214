"""TI-ONE serving in the emulator as the serving tests share it: a model version imported (the simulated
runner imports an empty folder, tagged ``sim.outcome=Abnormal`` its services never become healthy), a
service group serving it, and what the emulator holds of a group's services."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec
from airflow_provider_tia.models.tione.service_state import rollout_state
from tests.emulator.helpers.tione import call, cos, import_request, wait_version

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator import TIAEmulator
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.service_state import RolloutState
    from airflow_provider_tia.models.tione.services import ModelService


def version(emu: TIAEmulator, model_id: str | None = None, broken: bool = False) -> dict:
    """An imported model version, of a new model or the next of ``model_id``; ``broken`` ones make a
    service Abnormal. Its ``TrainingModelId`` and ``TrainingModelVersionId``."""
    extra: dict[str, Any] = {"Tags": [{"TagKey": "sim.outcome", "TagValue": "Abnormal"}] if broken else []}
    if model_id:
        extra.update(ImportMethod="VERSION", TrainingModelId=model_id, TrainingModelName=None)
    reply = call(emu, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/"), **extra))
    assert wait_version(emu, reply["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    return {"TrainingModelId": reply["Id"], "TrainingModelVersionId": reply["TrainingModelVersionId"]}


def services_of(emu: TIAEmulator, group: str) -> list[dict]:
    """Every service the emulator holds in the group of this name (more than one such group fails)."""
    groups = call(
        emu, "DescribeModelServiceGroups", Filters=[{"Name": "ServiceGroupName", "Values": [group]}]
    )
    assert len(groups["ServiceGroups"]) == 1, f"{len(groups['ServiceGroups'])} groups named {group}"
    return list(groups["ServiceGroups"][0]["Services"])


def wait_rollout(
    hook: TIONEHook, service_id: str, version_id: str | None, state: RolloutState, timeout: float = 20.0
) -> ModelService:
    """The service once its ``rollout_state`` for ``version_id`` is ``state`` (AssertionError after
    ``timeout`` seconds, naming the last state)."""
    deadline = time.monotonic() + timeout
    while True:
        service = hook.describe_model_service(service_id)
        last = rollout_state(service, version_id)
        if last == state:
            return service
        assert time.monotonic() < deadline, f"{service_id} is still {last}, not {state}"
        time.sleep(0.1)


@contextlib.contextmanager
def served_group(
    hook: TIONEHook, emu: TIAEmulator, prefix: str, *, wait: bool = True, **spec: Any
) -> Iterator[tuple[ModelService, str]]:
    """(service, model version Id) of a new group ``<prefix>-<hex>`` with authentication on (its token is
    what a test proves never leaks), serving a new model version once this returns (``wait=False``: just
    created); ``spec`` adds ModelServiceSpec fields. The group is deleted afterwards."""
    version_id = version(emu)["TrainingModelVersionId"]
    service = hook.create_model_service(
        ModelServiceSpec(
            service_group_name=f"{prefix}-{uuid.uuid4().hex[:8]}",
            charge_type="POSTPAID_BY_HOUR",
            instance_type="TI.S.MEDIUM.POST",
            authorization_enable=True,
            model_info={"ModelVersionId": version_id},
            **spec,
        )
    )
    try:
        if wait:
            wait_rollout(hook, service.id, version_id, "serving")
        yield service, version_id
    finally:
        call(emu, "DeleteModelServiceGroup", ServiceGroupId=service.group_id)
