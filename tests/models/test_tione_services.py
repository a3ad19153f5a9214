"""The online-service models without I/O: the CreateModelService field table against the SDK, validation
naming the field, secrets masked, the reply wrappers, call info and the one rollout decision."""

from __future__ import annotations

import json

import pytest

from airflow_provider_tia.exceptions import JobSpecError, MalformedResponse
from airflow_provider_tia.models.tione.service_spec import SERVICE_SPEC_FIELDS, ModelServiceSpec
from airflow_provider_tia.models.tione.service_state import RolloutWatch, rollout_state
from airflow_provider_tia.models.tione.services import ModelService, ServiceCallInfo, ServiceGroup

VALID = {"service_group_name": "resnet50", "charge_type": "POSTPAID_BY_HOUR", "instance_type": "TI.S.MEDIUM.POST",
         "model_info": {"ModelVersionId": "mv-v1-1"}}  # fmt: skip


def service(status: str = "Normal", version: str = "mv-v1-1", desired: int = 2, **work: int) -> dict:
    counts = {"Replicas": desired, "UpdatedReplicas": desired, "ReadyReplicas": desired,
              "AvailableReplicas": desired, **work}  # fmt: skip
    return {"ServiceGroupId": "ms-abc12345", "ServiceId": "ms-abc12345-1", "ServiceGroupName": "resnet50",
            "Status": status, "Weight": 100, "CreateTime": "2025-06-01T02:30:00Z",
            "ServiceInfo": {"Replicas": desired, "ModelInfo": {"ModelVersionId": version},
                            "Env": [{"Name": "K", "Value": "env-secret-1"}],
                            "ImageInfo": {"ImageType": "CCR", "ImageUrl": "u", "ImageSecret": {"Password": "img-pass-1"}},
                            "Status": {**counts, "Reason": "boom" if status == "Abnormal" else ""}}}  # fmt: skip


def test_the_table_covers_every_sdk_field() -> None:
    from tencentcloud.tione.v20211111 import models

    sdk = {name[1:] for name in vars(models.CreateModelServiceRequest())}
    assert sdk <= {f.api for f in SERVICE_SPEC_FIELDS}  # an older SDK (the floor's) sends fewer


def test_a_valid_spec_converts_rendered_text_and_sets_new_version() -> None:
    spec = ModelServiceSpec(**{**VALID, "replicas": "2", "authorization_enable": "true", "env": {"A": "x"}})
    assert spec.to_request()["Replicas"] == 2 and spec.authorization_enable is True
    assert spec.to_request()["Env"] == [{"Name": "A", "Value": "x"}]
    added = ModelServiceSpec(**{**VALID, "service_group_name": None, "service_group_id": "ms-abc12345"})
    assert added.to_request()["NewVersion"] is True and "ServiceGroupName" not in added.to_request()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"service_group_name": "名字"}, "service_group_name (ServiceGroupName)"),
        ({"charge_type": "FREE"}, "charge_type (ChargeType)"),
        ({"replicas": "two"}, "replicas (Replicas)"),
        ({"instance_type": None}, "instance_type (InstanceType)"),
        ({"model_info": {"ModelId": "m-1"}}, "model_info.ModelVersionId"),
        ({"model_info": None}, "model_info (ModelInfo)"),
        ({"service_group_name": None}, "service_group_name (ServiceGroupName)"),
        ({"service_group_id": "ms-1", "new_version": False, "service_group_name": None}, "new_version"),
        ({"priority": 10}, "priority (Priority)"),
        ({"rolling_update": {"MaxSurge": {"Type": "Lots"}}}, "rolling_update.MaxSurge.Type"),
        ({"image_info": {"ImageType": "CCR", "ImageUrl": "u", "ImageSecret": {"Password": 5}}}, "image_info.ImageSecret.Password"),
        ({"nonsense": 1}, "nonsense"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(changes: dict, named: str) -> None:
    with pytest.raises(JobSpecError) as error:
        ModelServiceSpec(**{**VALID, **changes})
    assert f"Invalid parameter {named}" in str(error.value)


def test_secrets_are_masked_in_the_spec_and_the_replies() -> None:
    spec = ModelServiceSpec(**{**VALID, "env": {"TOKEN": "spec-secret-1"},
                               "image_info": {"ImageType": "CCR", "ImageUrl": "u", "ImageSecret": {"Password": "spec-pass-1"}}})  # fmt: skip
    assert "spec-secret-1" not in repr(spec) and "spec-pass-1" not in repr(spec)
    text = json.dumps(ModelService.from_api(service()).to_dict())
    assert "env-secret-1" not in text and "img-pass-1" not in text and "2025-06-01T02:30:00Z" in text
    group = ServiceGroup.from_api({"ServiceGroupId": "ms-abc12345", "ServiceGroupName": "g", "Services": [service()],
                                   "AuthTokens": [{"Base": {"Value": "token-value-1", "Name": "default"}}]})  # fmt: skip
    assert "token-value-1" not in json.dumps(group.to_dict()) and group.service("ms-abc12345-1") is not None


def test_replies_parse_leniently_and_refuse_what_is_not_a_service() -> None:
    created = ModelService.from_api({"ServiceGroupId": "ms-a", "ServiceId": "ms-a-1", "ServiceGroupName": "g",
                                     "Status": "", "ServiceInfo": {"Status": None, "ModelInfo": None}})  # fmt: skip
    assert (created.state_name, created.available_replicas, created.model_version_id) == ("CREATING", 0, None)
    with pytest.raises(MalformedResponse):
        ModelService.from_api({"ServiceGroupId": "ms-a"})
    with pytest.raises(MalformedResponse):
        ServiceGroup.from_api([])


def test_call_info_builds_the_predict_url_and_hides_the_token() -> None:
    v2 = {"ServiceCallInfoV2": {"InternetEndpoint": "https://ms-a-1.gw.ti.tencentcs.com", "AuthorizationEnable": True,
                                "AuthToken": "call-token-1"}}  # fmt: skip
    info = ServiceCallInfo.from_api("ms-a", v2)
    assert info.predict_url == "https://ms-a-1.gw.ti.tencentcs.com/ms-a/v1/models/m:predict"
    assert info.headers()["Authorization"] == "call-token-1" and "call-token-1" not in repr(info) + str(
        info.to_dict()
    )
    legacy = ServiceCallInfo.from_api("ms-a", {"ServiceCallInfo": {"OuterHttpAddr": "http://gw/tione"}})
    assert (
        legacy.predict_url == "http://gw/tione/v1/models/m:predict"
        and "Authorization" not in legacy.headers()
    )
    with pytest.raises(MalformedResponse, match="ms-a"):
        ServiceCallInfo.from_api("ms-a", {})


@pytest.mark.parametrize(
    ("reply", "version", "state"),
    [
        (service(), "mv-v1-1", "serving"),
        (service(), None, "serving"),
        (service(), "mv-v2-2", "progressing"),  # another version still in place
        (service(UpdatedReplicas=1), "mv-v1-1", "progressing"),  # the roll is not over
        (service(AvailableReplicas=1), "mv-v1-1", "progressing"),
        (service("Waiting"), "mv-v1-1", "progressing"),
        (service(""), "mv-v1-1", "progressing"),
        (service("SOMETHING_NEW"), "mv-v1-1", "progressing"),
        (service("Abnormal"), "mv-v1-1", "abnormal"),
        (service("Stopped", desired=0), "mv-v1-1", "stopped"),
        (service("Stopping"), "mv-v1-1", "stopped"),
        (service("CREATE_FAILED"), "mv-v1-1", "stopped"),
        (service("Normal", desired=0), "mv-v1-1", "stopped"),
    ],
)
def test_rollout_state(reply: dict, version: str | None, state: str) -> None:
    assert rollout_state(ModelService.from_api(reply), version) == state


def test_the_watch_times_an_abnormal_spell_and_picks_the_version() -> None:
    watch = RolloutWatch("ms-abc12345", "mv-v1-1", grace=60)
    sick = ServiceGroup.from_api({"ServiceGroupId": "ms-abc12345", "Services": [service("Abnormal")]})
    assert not watch.observe(sick, 100.0).is_terminal
    assert not watch.observe(sick, 159.0).failed
    late = watch.observe(sick, 160.0)
    assert (
        late.failed and "stayed Abnormal for 60s" in (late.message or "") and "boom" in (late.message or "")
    )
    well = watch.observe(
        ServiceGroup.from_api({"ServiceGroupId": "ms-abc12345", "Services": [service()]}), 161.0
    )
    assert well.succeeded and watch.abnormal_since is None and well.to_dict()["ServiceId"] == "ms-abc12345-1"
    none = RolloutWatch("ms-abc12345", "mv-v9-9").observe(sick, 0.0)
    assert none.state == "progressing" and not none.is_terminal
    gone = RolloutWatch("ms-abc12345", None, "ms-abc12345-7").observe(sick, 0.0)
    assert gone.failed and "not in its group" in (gone.message or "")
