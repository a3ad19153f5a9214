"""Request shapes of the TI-ONE actions and their checking: types, required fields, the contract's bounds.

A shape is ``"str"``, ``"int"``, ``"bool"``, ``[shape]`` (a list) or ``{field: shape}`` (a model); a field
name ending in ``!`` is required. Errors name the parameter by its path (``DataConfigs.0.COSSource``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ..core.errors import ApiError
from ..core.limits import MAX_LIST_ITEMS, MAX_STRING_CHARS
from ..core.params import coerce

VERSION = "2021-11-11"
MAX_TASK_NAME = 60
MAX_DATA_CONFIGS = 10
MAX_TUNING_PARAMETERS = 2048
MAX_REMARK = 1024
MAX_PAGE = 50
MAX_LOG_LIMIT = 1000
# Chinese (CJK unified ideographs) or English letters, digits, _ and -; a letter or digit first.
NAME_RE = re.compile(r"[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff-]*")
CHARGE_TYPES = ("PREPAID", "POSTPAID_BY_HOUR")
# ResourceConfigInfo roles: the documented ones, and HEAD (RAY), which Tencent's own client sends.
ROLES = ("WORKER", "PS", "DRIVER", "EXECUTOR", "HEAD")
HANG_TIMEOUT_MINUTES = (1, 14400)
BACK_OFF_LIMITS = (0, 10)  # restarts of a failed run; Tencent's own client refuses more than 10

COS_PATH = {"Bucket!": "str", "Region!": "str", "Paths!": ["str"]}
RESOURCE = {
    "Role!": "str", "InstanceNum": "int", "Cpu": "int", "Memory": "int", "GpuType": "str", "Gpu": "int",
    "InstanceType": "str", "InstanceTypeAlias": "str", "RDMAConfig": {"Enable": "bool"},
}  # fmt: skip
START_CMD = {"StartCmd": "str", "PsStartCmd": "str", "WorkerStartCmd": "str"}
_ID_PATH = {"Id": "str", "Path": "str"}
DATA_CONFIG = {
    "MappingPath": "str", "DataSourceType": "str", "ReadOnly": "bool", "DataSourceUsage": "str",
    "DataSetSource": {"Id!": "str"}, "COSSource": COS_PATH,
    "CFSSource": {"Id!": "str", "Path!": "str", "MountType": "str", "Protocol": "str", "IsPresetStorage": "bool"},
    "HDFSSource": {"Id!": "str", "Path!": "str"}, "CFSTurboSource": _ID_PATH,
    "GooseFSSource": {"Id": "str", "Type": "str", "Path": "str", "NameSpace": "str", "MountOptions": "str"},
    "LocalDiskSource": {"InstanceId": "str", "LocalPath": "str"}, "CBSSource": {"VolumeSizeInGB": "int"},
    "HostPathSource": {"Path": "str"}, "PublicDataSource": {"DataSourceId": "str", "SubPath": "str"},
}  # fmt: skip
IMAGE = {
    "ImageType!": "str", "ImageUrl!": "str", "RegistryRegion": "str", "RegistryId": "str",
    "AllowSaveAllContent": "bool", "ImageName": "str", "SupportDataPipeline": "bool",
    "ImageSecret": {"KeyId": "str", "Username": "str", "Password": "str", "SecretId": "str"},
}  # fmt: skip
TAG = {"TagKey!": "str", "TagValue!": "str"}
EXPOSE_NETWORK = {
    "SSHConfig": {
        "Enable": "bool", "PublicKey": "str", "Port": "int", "LoginCommand": "str",
        "IsAddressChanged": "bool",
        "PodSSHInfo": {"Host": "str", "Port": "int", "LoginCommand": "str"},
    },
    "ExposePortConfig": {"Enable": "bool", "VpcId": "str", "ClbId": "str", "ClbHost": "str"},
}  # fmt: skip
FILTER = {"Name": "str", "Values": ["str"], "Negative": "bool", "Fuzzy": "bool"}
_PROJECT = {"TiProjectId": "str"}
_BY_ID = {"Id!": "str", **_PROJECT}

SCHEMAS: dict[str, dict[str, Any]] = {
    "CreateTrainingTask": {
        "Name!": "str", "ChargeType!": "str", "ResourceConfigInfos!": [RESOURCE], **_PROJECT,
        "FrameworkName": "str", "FrameworkVersion": "str", "FrameworkEnvironment": "str", "ResourceGroupId": "str",
        "Tags": [TAG], "ImageInfo": IMAGE, "CodePackagePath": COS_PATH, "StartCmdInfo": START_CMD,
        "TrainingMode": "str", "DataConfigs": [DATA_CONFIG], "VpcId": "str", "SubnetId": "str", "Output": COS_PATH,
        "LogConfig": {"LogsetId!": "str", "TopicId!": "str"}, "TuningParameters": "str", "LogEnable": "bool",
        "Remark": "str", "DataSource": "str", "CallbackUrl": "str", "EncodedStartCmdInfo": {"StartCmdInfo": "str"},
        "CodeRepos": [{"Id!": "str", "TargetPath!": "str"}],
        "ExposeNetworkConfig": EXPOSE_NETWORK,
        "Envs": [{"Name": "str", "Value": "str", "IsPrivate": "bool"}],
        "TrainToolConfig": {"EnableHangMonitor": "bool", "HangMonitorNodes": ["str"], "LogHangTimeoutInMinute": "int"},
        "ResourceSupplyAttribute": {"SupplyType": "str", "ClusterType": "str"}, "Queues": ["str"],
        "SchedulePolicy": {"PriorityClass": "str", "BackOffLimit": "int"},
    },
    "DescribeTrainingTask": {**_BY_ID, "InstanceId": "str"},
    "DescribeTrainingTasks": {
        **_PROJECT, "Filters": [FILTER], "TagFilters": [{"TagKey": "str", "TagValues": ["str"]}],
        "Offset": "int", "Limit": "int", "Order": "str", "OrderField": "str",
    },
    "StopTrainingTask": _BY_ID,
    "StartTrainingTask": _BY_ID,
    "DeleteTrainingTask": _BY_ID,
    "DescribeTrainingTaskPods": _BY_ID,
    "DescribeLogs": {
        "Service!": "str", **_PROJECT, "ServiceId": "str", "PodName": "str", "StartTime": "str", "EndTime": "str",
        "Limit": "int", "Order": "str", "OrderField": "str", "Context": "str", "Filters": [FILTER],
        "Offset": "int", "LogStream": "str",
    },
}  # fmt: skip


def invalid(path: str, why: str) -> ApiError:
    """InvalidParameterValue naming the parameter."""
    return ApiError("InvalidParameterValue", f"The parameter `{path}` {why}.")


def _check(path: str, shape: Any, value: Any, typed: bool) -> Any:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ApiError("InvalidParameter", f"The parameter `{path}` must be an object.")
        return check_model(shape, value, typed, path + ".")
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise ApiError("InvalidParameter", f"The parameter `{path}` must be an array.")
        if len(value) > MAX_LIST_ITEMS:
            raise invalid(path, f"has more than {MAX_LIST_ITEMS} items")
        return [_check(f"{path}.{i}", shape[0], item, typed) for i, item in enumerate(value)]
    value = coerce(path, shape, value, typed)
    if shape == "str" and len(value) > MAX_STRING_CHARS:
        raise invalid(path, f"is longer than {MAX_STRING_CHARS} characters")
    if shape == "int" and not -(2**63) <= value < 2**63:
        raise invalid(path, "is out of the Integer range")
    return value


def check_model(shape: dict[str, Any], params: dict, typed: bool, prefix: str = "") -> dict:
    """Checked (and, for query/form strings, converted) copy of ``params``: UnknownParameter for a field
    the shape lacks, MissingParameter for an absent required one, InvalidParameter for a wrong type."""
    fields = {name.rstrip("!"): (sub, name.endswith("!")) for name, sub in shape.items()}
    for name in params:
        if name not in fields:
            shown = prefix + (name if len(name) <= 64 else name[:64] + "...")
            raise ApiError("UnknownParameter", f"The parameter `{shown}` is not recognized.")
    out = {}
    for name, (sub, required) in fields.items():
        value = params.get(name)
        if value is None:
            if required:
                raise ApiError(
                    "MissingParameter", f"The request is missing a required parameter `{prefix}{name}`."
                )
            continue
        out[name] = _check(prefix + name, sub, value, typed)
    return out


def check_cos_path(path: str, cos: dict) -> None:
    """A CosPathInfo names a bucket and a region and exactly one path."""
    for field in ("Bucket", "Region"):
        if not cos[field].strip():
            raise invalid(f"{path}.{field}", "must not be empty")
    if len(cos["Paths"]) != 1:
        raise invalid(f"{path}.Paths", "must hold exactly one path")


def check_create(p: dict) -> None:
    """The contract's rules on CreateTrainingTask beyond types."""
    name = p["Name"]
    if not name or len(name) > MAX_TASK_NAME or not NAME_RE.fullmatch(name):
        raise invalid(
            "Name",
            f"must be 1-{MAX_TASK_NAME} Chinese or English letters, digits, _ or -, "
            "starting with a letter or digit",
        )
    if p["ChargeType"] not in CHARGE_TYPES:
        raise invalid("ChargeType", f"must be one of {', '.join(CHARGE_TYPES)}")
    if not p["ResourceConfigInfos"]:
        raise invalid("ResourceConfigInfos", "must hold at least one role")
    for i, res in enumerate(p["ResourceConfigInfos"]):
        if res["Role"] not in ROLES:
            raise invalid(f"ResourceConfigInfos.{i}.Role", f"must be one of {', '.join(ROLES)}")
        if not 1 <= res.get("InstanceNum", 1) <= 1000:
            raise invalid(f"ResourceConfigInfos.{i}.InstanceNum", "must be within [1, 1000]")
    if len(p.get("DataConfigs", [])) > MAX_DATA_CONFIGS:
        raise invalid("DataConfigs", f"has more than {MAX_DATA_CONFIGS} items")
    for field, bound in (("TuningParameters", MAX_TUNING_PARAMETERS), ("Remark", MAX_REMARK)):
        if len(p.get(field, "")) > bound:
            raise invalid(field, f"is longer than {bound} characters")
    cos_paths = [(f, p[f]) for f in ("CodePackagePath", "Output") if f in p]
    cos_paths += [(f"DataConfigs.{i}.COSSource", d["COSSource"]) for i, d in enumerate(p.get("DataConfigs", []))
                  if "COSSource" in d]  # fmt: skip
    for path, cos in cos_paths:
        check_cos_path(path, cos)
    _check_tools(p)
    try:
        start_commands(p)
    except ValueError as exc:
        raise invalid("EncodedStartCmdInfo.StartCmdInfo", str(exc)) from None


def _check_tools(p: dict) -> None:
    """TrainToolConfig's hang timeout and SchedulePolicy's restart count within their ranges."""
    low, high = HANG_TIMEOUT_MINUTES
    if not low <= p.get("TrainToolConfig", {}).get("LogHangTimeoutInMinute", low) <= high:
        raise invalid("TrainToolConfig.LogHangTimeoutInMinute", f"must be within [{low}, {high}]")
    low, high = BACK_OFF_LIMITS
    if not low <= p.get("SchedulePolicy", {}).get("BackOffLimit", low) <= high:
        raise ApiError(
            "InvalidParameterValue.BackOffLimitIllegal",
            f"The parameter `SchedulePolicy.BackOffLimit` must be within [{low}, {high}].",
        )


def decode_start_cmds(encoded: str) -> dict[str, str]:
    """The commands in an EncodedStartCmdInfo: base64 of a JSON StartCmdInfo. A null command reads as ""
    (Tencent's own client sends null for the roles it leaves unused); ValueError says what is wrong."""
    try:
        cmds = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise ValueError("is not base64 of a JSON object") from None
    if not isinstance(cmds, dict):
        raise ValueError("must decode to a JSON object")
    unknown = [k for k in cmds if k not in START_CMD]
    if unknown:
        raise ValueError(f"decodes to an unknown field {unknown[0][:64]!r}")
    if not all(v is None or isinstance(v, str) for v in cmds.values()):
        raise ValueError("must decode to an object of strings (or nulls)")
    return {k: v or "" for k, v in cmds.items()}


def start_commands(spec: dict) -> dict[str, str]:
    """Every StartCmdInfo field of a task ("" when unset): the decoded EncodedStartCmdInfo, which wins when
    set, else StartCmdInfo; ValueError when the encoded one does not decode."""
    encoded = spec.get("EncodedStartCmdInfo", {}).get("StartCmdInfo")
    cmds = decode_start_cmds(encoded) if encoded else spec.get("StartCmdInfo", {})
    return {**dict.fromkeys(START_CMD, ""), **cmds}
