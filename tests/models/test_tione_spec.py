"""The CreateTrainingTask spec: the field table against the SDK, each rule naming its field, conversions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.models.tione.training_spec import TRAINING_SPEC_FIELDS, TrainingTaskSpec
from airflow_provider_tia.secrets import redact

BASE: dict[str, Any] = {
    "name": "resnet50-ddp",
    "charge_type": "POSTPAID_BY_HOUR",
    "resource_config_infos": [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 2}],
}
COS = {"Bucket": "ml-code-1256580188", "Region": "ap-guangzhou", "Paths": ["resnet/code/"]}

# A valid value for every field, and what the request carries for it.
VALID: dict[str, tuple[Any, Any]] = {
    "name": ("训练-task_1", "训练-task_1"),
    "charge_type": ("PREPAID", "PREPAID"),
    "resource_config_infos": (
        [
            {
                "Role": "WORKER",
                "InstanceNum": "3",
                "Cpu": "8000",
                "Memory": 40960,
                "RDMAConfig": {"Enable": "false"},
            }
        ],
        [{"Role": "WORKER", "InstanceNum": 3, "Cpu": 8000, "Memory": 40960, "RDMAConfig": {"Enable": False}}],
    ),
    "ti_project_id": ("ws-1", "ws-1"),
    "framework_name": ("PYTORCH", "PYTORCH"),
    "framework_version": ("1.9", "1.9"),
    "framework_environment": ("torch1.9-py3.8-cuda11.1-gpu", "torch1.9-py3.8-cuda11.1-gpu"),
    "resource_group_id": ("trsg-1", "trsg-1"),
    "tags": ({"team": "ml"}, [{"TagKey": "team", "TagValue": "ml"}]),
    "image_info": ({"ImageType": "PRE_SET", "ImageUrl": "x:1"}, {"ImageType": "PRE_SET", "ImageUrl": "x:1"}),
    "code_package_path": (COS, COS),
    "start_cmd_info": ({"WorkerStartCmd": "bash run.sh"}, {"WorkerStartCmd": "bash run.sh"}),
    "training_mode": ("DDP", "DDP"),
    "data_configs": (
        [
            {
                "DataSourceType": "COS",
                "MappingPath": "/opt/ml/input/data/",
                "COSSource": COS,
                "ReadOnly": "true",
            }
        ],
        [{"DataSourceType": "COS", "MappingPath": "/opt/ml/input/data/", "COSSource": COS, "ReadOnly": True}],
    ),
    "vpc_id": ("vpc-1", "vpc-1"),
    "subnet_id": ("subnet-1", "subnet-1"),
    "output_path": (COS, COS),
    "log_config": ({"LogsetId": "l", "TopicId": "t"}, {"LogsetId": "l", "TopicId": "t"}),
    "tuning_parameters": ({"lr": "0.1"}, '{"lr": "0.1"}'),
    "log_enable": ("TRUE", True),
    "remark": ("r" * 1024, "r" * 1024),
    "data_source": ("COS", "COS"),
    "callback_url": ("https://example.invalid/cb", "https://example.invalid/cb"),
    "encoded_start_cmd_info": ({"StartCmdInfo": "eyJ9"}, {"StartCmdInfo": "eyJ9"}),
    "code_repos": (
        [{"Id": "cr-1", "TargetPath": "/opt/ml/code"}],
        [{"Id": "cr-1", "TargetPath": "/opt/ml/code"}],
    ),
    "expose_network_config": (
        {"SSHConfig": {"Enable": True, "Port": "22"}},
        {"SSHConfig": {"Enable": True, "Port": 22}},
    ),
    "envs": ([{"Name": "A", "Value": "1"}], [{"Name": "A", "Value": "1"}]),
    "train_tool_config": ({"LogHangTimeoutInMinute": "14400"}, {"LogHangTimeoutInMinute": 14400}),
    "resource_supply_attribute": ({"SupplyType": "SPOT"}, {"SupplyType": "SPOT"}),
    "queues": (["q-bj-2f0a9dca"], ["q-bj-2f0a9dca"]),
}

# A bad value for fields with rules, and the path the error must name.
INVALID: list[tuple[str, Any, str]] = [
    ("name", "x" * 61, "name (Name)"),
    ("name", "_starts-with-underscore", "name (Name)"),
    ("name", "job\n", "name (Name)"),
    ("name", "has space", "name (Name)"),
    ("name", 7, "name (Name)"),
    ("charge_type", "SPOT", "charge_type (ChargeType)"),
    ("resource_config_infos", [], "resource_config_infos (ResourceConfigInfos)"),
    ("resource_config_infos", {"Role": "WORKER"}, "resource_config_infos (ResourceConfigInfos)"),
    ("resource_config_infos", [{"InstanceNum": 1}], "resource_config_infos[0].Role"),
    ("resource_config_infos", [{"Role": "WROKER", "InstanceNum": 1}], "resource_config_infos[0].Role"),
    ("resource_config_infos", [{"Role": "WORKER"}], "resource_config_infos[0].InstanceNum"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": 0}], "resource_config_infos[0].InstanceNum"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": "two"}], "resource_config_infos[0].InstanceNum"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": 1.5}], "resource_config_infos[0].InstanceNum"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": True}], "resource_config_infos[0].InstanceNum"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": 1, "Gpus": 1}], "resource_config_infos[0]"),
    ("resource_config_infos", [{"Role": "WORKER", "InstanceNum": 1, "RDMAConfig": {"Enable": "yes"}}],
     "resource_config_infos[0].RDMAConfig.Enable"),
    ("code_package_path", {"Bucket": "b", "Region": "r", "Paths": ["a/", "b/"]}, "code_package_path.Paths"),
    ("code_package_path", {"Bucket": "b", "Region": "r", "Paths": []}, "code_package_path.Paths"),
    ("code_package_path", {"Bucket": "b", "Paths": ["a/"]}, "code_package_path.Region"),
    ("output_path", {"Bucket": "b", "Region": "r", "Paths": "a/"}, "output_path.Paths"),
    ("data_configs", [{"COSSource": COS}] * 11, "data_configs (DataConfigs)"),
    ("data_configs", [{"COSSource": {**COS, "Paths": ["a", "b"]}}], "data_configs[0].COSSource.Paths"),
    ("data_configs", [{"CFSSource": {"Id": "cfs-1"}}], "data_configs[0].CFSSource.Path"),
    ("tuning_parameters", "x" * 2049, "tuning_parameters (TuningParameters)"),
    ("remark", "x" * 1025, "remark (Remark)"),
    ("image_info", {"ImageType": "DOCKERHUB", "ImageUrl": "x"}, "image_info.ImageType"),
    ("image_info", {"ImageType": "CCR"}, "image_info.ImageUrl"),
    ("image_info", {"ImageType": "CUSTOM", "ImageUrl": "x", "ImageSecret": {"Pass": "p"}}, "image_info.ImageSecret"),
    ("train_tool_config", {"LogHangTimeoutInMinute": 0}, "train_tool_config.LogHangTimeoutInMinute"),
    ("train_tool_config", {"LogHangTimeoutInMinute": 14401}, "train_tool_config.LogHangTimeoutInMinute"),
    ("log_enable", "maybe", "log_enable (LogEnable)"),
    ("tags", [{"TagKey": "k"}], "tags[0].TagValue"),
    ("tags", "team=ml", "tags (Tags)"),
    ("envs", [{"Value": "v"}], "envs[0].Name"),
    ("log_config", {"LogsetId": "l"}, "log_config.TopicId"),
    ("code_repos", [{"Id": "cr-1"}], "code_repos[0].TargetPath"),
    ("queues", "q-1", "queues (Queues)"),
    ("queues", [1], "queues[0]"),
    ("start_cmd_info", {"Cmd": "x"}, "start_cmd_info (StartCmdInfo)"),
    ("expose_network_config", {"SSHConfig": {"Port": 70000}}, "expose_network_config.SSHConfig.Port"),
]  # fmt: skip


def _spec(**changes: Any) -> TrainingTaskSpec:
    return TrainingTaskSpec(**{**BASE, **changes})


CONTRACT_SDK = (3, 1, 191)  # the SDK release the contract was compiled from


def assert_covers(ours: set[str], sdk: set[str]) -> None:
    """Every field of the installed SDK is ours; with the contract's SDK (or newer), exactly those.

    An older SDK (the Airflow-floor test run installs 3.1.77) lacks fields added since: it is a subset."""
    from importlib.metadata import version

    installed = tuple(int(part) for part in version("tencentcloud-sdk-python-tione").split(".")[:3])
    assert sdk <= ours, sdk - ours
    if installed >= CONTRACT_SDK:
        assert ours == sdk, ours - sdk


def test_the_table_covers_every_sdk_request_field() -> None:
    from tencentcloud.tione.v20211111.models import CreateTrainingTaskRequest

    sdk_fields = {key.lstrip("_") for key in vars(CreateTrainingTaskRequest())}
    assert_covers({f.api for f in TRAINING_SPEC_FIELDS}, sdk_fields)
    assert set(VALID) == {f.attr for f in TRAINING_SPEC_FIELDS}  # every row is exercised below


@pytest.mark.parametrize(
    ("model", "sdk_name"),
    [
        ("RESOURCE_CONFIG_INFO", "ResourceConfigInfo"),
        ("COS_PATH", "CosPathInfo"),
        ("IMAGE_INFO", "ImageInfo"),
        ("IMAGE_SECRET", "ImageSecret"),
        ("START_CMD_INFO", "StartCmdInfo"),
        ("DATA_CONFIG", "DataConfig"),
        ("LOG_CONFIG", "LogConfig"),
        ("ENCODED_START_CMD_INFO", "EncodedStartCmdInfo"),
        ("CODE_REPO", "CodeRepoConfig"),
        ("EXPOSE_NETWORK_CONFIG", "ExposeNetworkConfig"),
        ("ENV_VAR", "EnvVar"),
        ("TAG", "Tag"),
        ("TRAIN_TOOL_CONFIG", "TrainToolConfig"),
        ("RESOURCE_SUPPLY_ATTRIBUTE", "ResourceSupplyAttribute"),
    ],
)
def test_nested_models_match_the_sdk(model: str, sdk_name: str) -> None:
    from tencentcloud.tione.v20211111 import models

    from airflow_provider_tia.models.tione import training_spec

    ours = getattr(training_spec, model)
    sdk_model = getattr(models, sdk_name, None)
    sdk = {key.lstrip("_") for key in vars(sdk_model())} if sdk_model is not None else set()
    assert_covers(set(ours.fields), sdk)  # a model newer than the installed SDK: nothing to cover


@pytest.mark.parametrize("attr", sorted(VALID))
def test_every_field_reaches_the_request(attr: str) -> None:
    given_value, expected = VALID[attr]
    extra = {"resource_group_id": "trsg-1"} if attr == "charge_type" else {}
    spec = _spec(**{attr: given_value}, **extra)
    api = next(f.api for f in TRAINING_SPEC_FIELDS if f.attr == attr)
    assert spec.to_request()[api] == expected


@pytest.mark.parametrize(("attr", "value", "path"), INVALID)
def test_each_rule_names_its_field(attr: str, value: Any, path: str) -> None:
    with pytest.raises(JobSpecError) as info:
        _spec(**{attr: value})
    assert str(info.value).startswith(f"Invalid parameter {path}:"), str(info.value)


def test_unknown_nested_keys_are_named() -> None:
    with pytest.raises(JobSpecError, match=r"unknown field\(s\) 'Gpus'.*ResourceConfigInfo has Role"):
        _spec(resource_config_infos=[{"Role": "WORKER", "InstanceNum": 1, "Gpus": 1}])


def test_a_missing_required_field_and_an_unknown_keyword_are_refused_by_name() -> None:
    with pytest.raises(JobSpecError, match="charge_type .*required"):
        TrainingTaskSpec.from_kwargs(name="a", resource_config_infos=BASE["resource_config_infos"])
    with pytest.raises(
        JobSpecError, match="Invalid parameter cluster: is not a CreateTrainingTask parameter"
    ):
        TrainingTaskSpec.from_kwargs(**BASE, cluster="x")


def test_prepaid_needs_a_resource_group() -> None:
    with pytest.raises(
        JobSpecError, match=r"resource_group_id \(ResourceGroupId\): is required when charge_type is PREPAID"
    ):
        _spec(charge_type="PREPAID")
    assert (
        _spec(charge_type="PREPAID", resource_group_id="trsg-1").to_request()["ResourceGroupId"] == "trsg-1"
    )


def test_start_cmd_runs_whichever_field_the_service_reads() -> None:
    spec = TrainingTaskSpec.from_kwargs(**BASE, start_cmd="python train.py")
    assert spec.to_request()["StartCmdInfo"] == {
        "StartCmd": "python train.py",
        "PsStartCmd": "",
        "WorkerStartCmd": "python train.py",
    }
    for other in (
        {"start_cmd_info": {"StartCmd": "x"}},
        {"encoded_start_cmd_info": {"StartCmdInfo": "eA=="}},
    ):
        with pytest.raises(JobSpecError, match="start_cmd: is refused together"):
            _spec(start_cmd="python train.py", **other)


def test_request_leaves_out_unset_fields_and_is_a_copy() -> None:
    spec = _spec()
    request = spec.to_request()
    assert set(request) == {"Name", "ChargeType", "ResourceConfigInfos"}
    request["ResourceConfigInfos"][0]["InstanceNum"] = 99
    assert spec.to_request()["ResourceConfigInfos"][0]["InstanceNum"] == 2


def test_tags_and_the_code_package_are_added_to_a_frozen_copy() -> None:
    spec = _spec(tags={"team": "ml", "key": "old"}).with_tags({"key": "new", "airflow-key": "k1"})
    assert spec.to_request()["Tags"] == [
        {"TagKey": "team", "TagValue": "ml"},
        {"TagKey": "key", "TagValue": "new"},
        {"TagKey": "airflow-key", "TagValue": "k1"},
    ]
    packaged = spec.with_code_package("ml-code-1256580188", "ap-guangzhou", "runs/1/code/")
    assert packaged.to_request()["CodePackagePath"] == {
        "Bucket": "ml-code-1256580188",
        "Region": "ap-guangzhou",
        "Paths": ["runs/1/code/"],
    }
    assert packaged.to_request()["Tags"] == spec.to_request()["Tags"]
    with pytest.raises(AttributeError, match="immutable"):
        spec.name = "other"  # type: ignore[misc]


def test_envs_given_as_a_dict_become_name_value_pairs() -> None:
    assert _spec(envs={"EPOCHS": "3"}).to_request()["Envs"] == [{"Name": "EPOCHS", "Value": "3"}]


def test_secrets_are_registered_and_never_quoted() -> None:
    env_secret, password = "env-secret-value-123", "image-password-456"
    spec = _spec(
        envs={"TOKEN": env_secret},
        image_info={
            "ImageType": "CUSTOM",
            "ImageUrl": "r/i:1",
            "ImageSecret": {"Username": "u", "Password": password},
        },
    )
    assert redact(f"{env_secret} {password}") == "*** ***"
    assert env_secret not in repr(spec) and password not in repr(spec)
    for bad in ({"envs": [{"Name": "A", "Value": 12345678}]}, {"envs": {"A": ["not-a-string-secret"]}}):
        with pytest.raises(JobSpecError) as info:
            _spec(**bad)
        assert "12345678" not in str(info.value) and "not-a-string-secret" not in str(info.value)


@given(st.text(max_size=70))
def test_a_name_is_accepted_exactly_when_the_services_rule_allows_it(name: str) -> None:
    valid = (
        0 < len(name) <= 60
        and (name[0].isascii() and name[0].isalnum() or "\u4e00" <= name[0] <= "\u9fff")
        and all((ch.isascii() and (ch.isalnum() or ch in "_-")) or "\u4e00" <= ch <= "\u9fff" for ch in name)
    )
    try:
        _spec(name=name)
    except JobSpecError as error:
        assert not valid and str(error).startswith("Invalid parameter name (Name)")
    else:
        assert valid


@given(st.integers(min_value=-5, max_value=20000))
def test_the_hang_timeout_is_accepted_as_text_within_its_bounds(minutes: int) -> None:
    try:
        spec = _spec(train_tool_config={"LogHangTimeoutInMinute": str(minutes)})
    except JobSpecError:
        assert not 1 <= minutes <= 14400
    else:
        assert spec.to_request()["TrainToolConfig"] == {"LogHangTimeoutInMinute": minutes}
