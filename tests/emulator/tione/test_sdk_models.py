"""The emulator's TI-ONE request and reply fields against the installed official SDK's models, walked
mechanically (every model reachable from each request, by the types its properties document), so a field
the SDK has and the emulator refuses, or one the emulator invents, shows here."""

from __future__ import annotations

import base64
import json
import re
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.tione.v20211111 import models

from airflow_provider_tia.emulator.tione.schema import SCHEMAS

from ..helpers.tia import profile
from ..helpers.tione import REGION, call, sim_tags

if TYPE_CHECKING:
    from airflow_provider_tia.emulator.server import TIAEmulator as Emu

# Request fields the emulator accepts that an installed SDK may lack. SchedulePolicy is what Tencent's own
# client (tikit 1.9.5) sends for `restart_limit`, matching the service's BackOffLimit error codes; the rest
# are in SDK 3.1.191 and the CLI's api.json but not in the earlier 3.1 releases the test extra allows.
BEYOND_SDK = {
    "CreateTrainingTaskRequest": {
        "SchedulePolicy", "TrainToolConfig", "ResourceSupplyAttribute", "Envs", "Queues",
        "ExposeNetworkConfig",
    },
    "DescribeLogsRequest": {"LogStream", "Offset"},
    "CFSConfig": {"IsPresetStorage"},
    "DataConfig": {"ReadOnly", "PublicDataSource"},
    "GooseFS": {"MountOptions"},
    "ImageInfo": {"ImageSecret"},
    "EnvVar": {"IsPrivate"},
}  # fmt: skip
TIKIT_ONLY = {("CreateTrainingTaskRequest", "SchedulePolicy")}
WORKSPACE = "TiProjectId"  # every action takes it; SDK releases before 3.1.191 lack it
# Reply fields: the list item's ResourceGroupSWType and AIMarketTemplateId are read by Tencent's own client
# (absent from the SDK's model); Envs and ExposeNetworkConfig are missing from early 3.1 releases. The
# emulator records no operator, and the service may leave OperatorInfo/LatestOperatorInfo out.
REPLY_BEYOND_SDK = {
    "TrainingTaskSetItem": {"ResourceGroupSWType", "AIMarketTemplateId", "Envs"},
    "TrainingTaskDetail": {"ExposeNetworkConfig"},
}
REPLY_LEFT_OUT = {"TrainingTaskSetItem": {"LatestOperatorInfo"}, "TrainingTaskDetail": {"OperatorInfo"}}
SCALARS = {"str": "str", "int": "int", "bool": "bool"}


def sdk_fields(cls: type) -> dict[str, str]:
    """Field name -> the type the SDK documents for it (its property's ``:rtype:``)."""
    fields = {}
    for attr in vars(cls()):
        doc = getattr(cls, attr[1:]).__doc__ or ""
        found = re.search(r":rtype:\s*(.+)", doc)
        fields[attr[1:]] = found.group(1).strip() if found else ""
    return fields


def sdk_shape(rtype: str) -> tuple[str, str | None]:
    """(kind, model class name) of an SDK type: kind is str/int/bool/model/list of those."""
    item = rtype[len("list of ") :] if rtype.startswith("list of ") else rtype
    model = re.search(r"models\.(\w+)", item)
    name = model.group(1) if model else (None if item in SCALARS else item)
    kind = "model" if name else SCALARS.get(item, item)
    return (f"list of {kind}" if rtype.startswith("list of ") else kind), name


def emulator_shape(shape: Any) -> str:
    if isinstance(shape, list):
        return f"list of {emulator_shape(shape[0])}"
    return "model" if isinstance(shape, dict) else str(shape)


def mismatches(path: str, shape: dict, cls: type) -> list[str]:
    """Every field of ``cls`` the emulator's ``shape`` refuses or types differently, every field it accepts
    that the SDK lacks (unless allowed), recursively."""
    sdk = sdk_fields(cls)
    mine = {name.rstrip("!"): sub for name, sub in shape.items()}
    allowed = BEYOND_SDK.get(cls.__name__, set()) | (
        {WORKSPACE} if cls.__name__.endswith("Request") else set()
    )
    found = [
        f"{path}.{name}: in the SDK, refused by the emulator" for name in sorted(sdk.keys() - mine.keys())
    ]
    found += [
        f"{path}.{name}: accepted, not in the SDK" for name in sorted(mine.keys() - sdk.keys() - allowed)
    ]
    for name in sorted(sdk.keys() & mine.keys()):
        kind, model = sdk_shape(sdk[name])
        if kind != emulator_shape(mine[name]):
            found.append(f"{path}.{name}: the SDK says {kind}, the emulator {emulator_shape(mine[name])}")
        elif model:
            sub = mine[name][0] if isinstance(mine[name], list) else mine[name]
            found += mismatches(f"{path}.{name}", sub, getattr(models, model))
    return found


@pytest.mark.parametrize("action", sorted(SCHEMAS))
def test_request_fields_match_the_sdk_models(action: str) -> None:
    assert mismatches(action, SCHEMAS[action], getattr(models, f"{action}Request")) == []


def test_the_allow_lists_name_real_fields() -> None:
    """With the SDK the contract was read from (3.1.191) or newer, every allowed extra is an SDK field
    after all, except what only Tencent's own client sends: a typo cannot hide a mismatch."""
    if tuple(int(x) for x in version("tencentcloud-sdk-python-tione").split(".")[:3]) < (3, 1, 191):
        pytest.skip("an SDK older than the contract's lacks some fields")
    for model, names in BEYOND_SDK.items():
        assert {n for n in names if (model, n) not in TIKIT_ONLY} <= sdk_fields(getattr(models, model)).keys()
    for model, names in {**REPLY_BEYOND_SDK, **REPLY_LEFT_OUT}.items():
        extra = names - {"ResourceGroupSWType", "AIMarketTemplateId"}
        assert extra <= sdk_fields(getattr(models, model)).keys(), model


def test_schedule_policy_is_tikits_model() -> None:
    """SchedulePolicy is not in the official SDK yet; the emulator takes exactly the fields of the model
    Tencent's own client sends."""
    tikit_models = pytest.importorskip("tikit.tencentcloud.tione.v20211111.models")
    policy = SCHEMAS["CreateTrainingTask"]["SchedulePolicy"]
    assert mismatches("SchedulePolicy", policy, tikit_models.SchedulePolicy) == []


# ---- every SDK field, sent for real ------------------------------------------------------------------
VALID = {  # values the contract's rules need (other fields get a plain value of their type)
    "Name": "every-field", "ChargeType": "POSTPAID_BY_HOUR", "ImageType": "CCR", "InstanceNum": 1, "Role": "WORKER",
    "LogHangTimeoutInMinute": 30, "TuningParameters": "{}", "Paths": ["p/"],
    "StartCmdInfo": base64.b64encode(json.dumps({"StartCmd": "true"}).encode()).decode(),
}  # fmt: skip


def every_field(cls: type) -> dict:
    """A request filling every field of ``cls`` the SDK documents, recursively."""
    body: dict[str, Any] = {}
    for name, rtype in sdk_fields(cls).items():
        kind, model = sdk_shape(rtype)
        if model:
            value: Any = every_field(getattr(models, model))
            body[name] = [value] if kind.startswith("list") else value
        elif name in VALID:
            body[name] = VALID[name]
        else:
            scalar = {"str": "x", "int": 1, "bool": True}[kind.removeprefix("list of ")]
            body[name] = [scalar] if kind.startswith("list") else scalar
    return body


def test_a_request_with_every_sdk_field_is_accepted(sim_emu: Emu) -> None:
    body = every_field(models.CreateTrainingTaskRequest)
    body["Tags"] = sim_tags(duration=0.05)
    task_id = call(sim_emu, "CreateTrainingTask", **body)["Id"]
    assert sim_emu.wait_for_task(task_id)["Status"] == "SUCCEED"


def _raw(emu: Emu, action: str, body: dict) -> dict:
    """A reply as sent (the SDK's models would drop fields they lack)."""
    client = CommonClient(
        "tione", "2021-11-11", Credential(emu.secret_id, emu.secret_key), REGION, profile(emu)
    )
    return dict(client.call_json(action, body)["Response"])


@pytest.mark.parametrize(
    ("model", "action"), [("TrainingTaskDetail", "Detail"), ("TrainingTaskSetItem", "List")]
)
def test_reply_fields_match_the_sdk_models(sim_emu: Emu, model: str, action: str) -> None:
    body = every_field(models.CreateTrainingTaskRequest)
    body.update(Name="reply-fields", Tags=sim_tags(duration=0.05))
    task_id = call(sim_emu, "CreateTrainingTask", **body)["Id"]
    sim_emu.wait_for_task(task_id)
    if action == "Detail":
        reply = _raw(sim_emu, "DescribeTrainingTask", {"Id": task_id})["TrainingTaskDetail"]
    else:
        listed = _raw(sim_emu, "DescribeTrainingTasks", {"Filters": [{"Name": "Id", "Values": [task_id]}]})
        reply = listed["TrainingTaskSet"][0]
    sdk = sdk_fields(getattr(models, model)).keys()
    assert sorted(sdk - reply.keys() - REPLY_LEFT_OUT[model]) == []
    assert sorted(reply.keys() - sdk - REPLY_BEYOND_SDK[model]) == []
