"""TI-ONE CreateTrainingTask as the service takes it, over real HTTP with the official TioneClient: the
name rule, the SDK's nested models, preset images, encoded start commands read back, and hostile nested
values answered with errors."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.models.tione.training_spec import NAME_PATTERN

from ..helpers.tione import call, common_error, create, detail, error_code, spec

if TYPE_CHECKING:
    from airflow_provider_tia.emulator.server import TIAEmulator as Emu


def encoded(commands: object) -> dict:
    """An EncodedStartCmdInfo holding ``commands`` as JSON."""
    return {"StartCmdInfo": base64.b64encode(json.dumps(commands).encode()).decode()}


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("café-1", False),
        ("модель", False),
        ("ａbc", False),  # a full-width Latin letter
        ("run٣", False),  # an Arabic-Indic digit
        ("straße", False),
        ("训练_任务-1", True),
        ("1st-Run_2", True),
    ],
)
def test_names_take_chinese_or_english_letters_only(sim_emu: Emu, name: str, accepted: bool) -> None:
    assert bool(re.fullmatch(NAME_PATTERN, name)) is accepted  # the provider's rule, the same answer
    if accepted:
        assert create(sim_emu, Name=name).startswith("train-")
    else:
        assert error_code(sim_emu, "CreateTrainingTask", **spec(Name=name)) == "InvalidParameterValue"


@pytest.mark.parametrize(("minutes", "accepted"), [(0, False), (1, True), (14400, True), (14401, False)])
def test_hang_timeout_is_1_to_14400_minutes(sim_emu: Emu, minutes: int, accepted: bool) -> None:
    from tencentcloud.tione.v20211111 import models

    if not hasattr(models.CreateTrainingTaskRequest(), "_TrainToolConfig"):
        pytest.skip("this SDK release has no TrainToolConfig (its client would not send it)")
    body = spec(TrainToolConfig={"EnableHangMonitor": True, "LogHangTimeoutInMinute": minutes})
    if accepted:
        assert call(sim_emu, "CreateTrainingTask", **body)["Id"].startswith("train-")
    else:
        assert error_code(sim_emu, "CreateTrainingTask", **body) == "InvalidParameterValue"


def test_expose_network_config_takes_the_sdk_models(sim_emu: Emu) -> None:
    network = {
        "SSHConfig": {
            "Enable": True, "PublicKey": "ssh-ed25519 AAAA", "Port": 22, "LoginCommand": "ssh root@h",
            "IsAddressChanged": False,
            "PodSSHInfo": {"Host": "h", "Port": 2222, "LoginCommand": "ssh -p 2222 h"},
        },
        "ExposePortConfig": {"Enable": True, "VpcId": "vpc-1", "ClbId": "lb-1", "ClbHost": "lb.example"},
    }  # fmt: skip
    task_id = create(sim_emu, ExposeNetworkConfig=network)
    assert detail(sim_emu, task_id)["ExposeNetworkConfig"] == network
    bad = spec(ExposeNetworkConfig={"ExposePortConfig": {"Ports": [8080]}})
    assert common_error(sim_emu, "CreateTrainingTask", bad) == "UnknownParameter"


def test_a_framework_environment_reads_back_as_a_preset_image(sim_emu: Emu) -> None:
    env = "torch1.9-py3.8-cuda11.1-gpu"
    task_id = create(sim_emu, FrameworkName="PYTORCH", FrameworkEnvironment=env)
    image = detail(sim_emu, task_id)["ImageInfo"]
    assert image["ImageType"] == "PRE_SET" and image["ImageName"] == env
    assert image["ImageUrl"].endswith(f"/pytorch:{env}")
    listed = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Id", "Values": [task_id]}])
    assert listed["TrainingTaskSet"][0]["ImageInfo"] == image
    custom = {"ImageType": "CCR", "ImageUrl": "ccr.ccs.tencentyun.com/team/train:1"}
    own = detail(sim_emu, create(sim_emu, FrameworkEnvironment=env, ImageInfo=custom))["ImageInfo"]
    assert {k: own[k] for k in custom} == custom
    assert detail(sim_emu, create(sim_emu))["ImageInfo"] is None


def test_encoded_start_commands_read_back_decoded(sim_emu: Emu) -> None:
    commands = {"StartCmd": None, "PsStartCmd": None, "WorkerStartCmd": "python train.py --lr 0.1"}
    task_id = create(sim_emu, StartCmdInfo={"StartCmd": "ignored"}, EncodedStartCmdInfo=encoded(commands))
    assert detail(sim_emu, task_id)["StartCmdInfo"] == {
        "StartCmd": "",
        "PsStartCmd": "",
        "WorkerStartCmd": "python train.py --lr 0.1",
    }
    assert sim_emu.wait_for_task(task_id)["Status"] == "SUCCEED"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"ExposeNetworkConfig": {"SSHConfig": "on"}}, "InvalidParameter"),
        ({"ExposeNetworkConfig": {"SSHConfig": {"Port": "22"}}}, "InvalidParameter"),
        ({"ExposeNetworkConfig": {"SSHConfig": {"PodSSHInfo": [{"Host": "h"}]}}}, "InvalidParameter"),
        ({"ExposeNetworkConfig": {"SSHConfig": {"Port": 10**30}}}, "InvalidParameterValue"),
        ({"TrainToolConfig": {"LogHangTimeoutInMinute": 1.5}}, "InvalidParameter"),
        ({"TrainToolConfig": {"LogHangTimeoutInMinute": -(2**63)}}, "InvalidParameterValue"),
        ({"SchedulePolicy": {"BackOffLimit": 11}}, "InvalidParameterValue.BackOffLimitIllegal"),
        ({"SchedulePolicy": {"BackOffLimit": -1}}, "InvalidParameterValue.BackOffLimitIllegal"),
        ({"SchedulePolicy": {"BackOffLimit": "3"}}, "InvalidParameter"),
        ({"SchedulePolicy": {"Restarts": 3}}, "UnknownParameter"),
        ({"EncodedStartCmdInfo": {"StartCmdInfo": "%%%"}}, "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": encoded(["echo"])}, "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": encoded({"StartCmd": 5})}, "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": encoded({"StartCmd": {"nested": "x"}})}, "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": encoded({"Bogus": "echo"})}, "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": {"StartCmdInfo": base64.b64encode(b"[" * 1500 + b"]" * 1500).decode()}},
         "InvalidParameterValue"),
        ({"EncodedStartCmdInfo": {"StartCmdInfo": base64.b64encode(b'{"StartCmd": "\xff"}').decode()}},
         "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_hostile_nested_values_get_error_replies(sim_emu: Emu, fields: dict, code: str) -> None:
    assert common_error(sim_emu, "CreateTrainingTask", spec(**fields)) == code
    assert call(sim_emu, "DescribeTrainingTasks", Limit=1)["TotalCount"] >= 0  # still serving


def test_a_misspelt_role_is_refused(emu) -> None:
    """Only the documented roles (and tikit's HEAD for RAY) are accepted, as the provider checks them."""
    bad = [{"Role": "WROKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]
    assert error_code(emu, "CreateTrainingTask", **spec(ResourceConfigInfos=bad)).startswith(
        "InvalidParameter"
    )
    head = [{"Role": "HEAD", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]
    assert create(emu, ResourceConfigInfos=head).startswith("train-")
