"""Request shapes of the TI-ONE actions and their checking: types, required fields, the contract's bounds.

A shape is ``"str"``, ``"int"``, ``"bool"``, ``[shape]`` (a list) or ``{field: shape}`` (a model); a field
name ending in ``!`` is required. Errors name the parameter by its path (``DataConfigs.0.COSSource``).
"""

from __future__ import annotations

import re
from typing import Any

from ..actions import coerce
from ..errors import ApiError
from ..limits import MAX_LIST_ITEMS, MAX_STRING_CHARS

VERSION = "2021-11-11"
MAX_TASK_NAME = 60
MAX_DATA_CONFIGS = 10
MAX_TUNING_PARAMETERS = 2048
MAX_REMARK = 1024
MAX_PAGE = 50
MAX_LOG_LIMIT = 1000
NAME_RE = re.compile(r"[^\W_][\w-]*")  # letters (any script) or digits first, then letters, digits, _ and -
CHARGE_TYPES = ("PREPAID", "POSTPAID_BY_HOUR")

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
        "ExposeNetworkConfig": {"SSHConfig": {"Enable": "bool", "PublicKey": "str"},
                                "ExposePortConfig": {"Ports": ["int"]}},
        "Envs": [{"Name": "str", "Value": "str", "IsPrivate": "bool"}],
        "TrainToolConfig": {"EnableHangMonitor": "bool", "HangMonitorNodes": ["str"], "LogHangTimeoutInMinute": "int"},
        "ResourceSupplyAttribute": {"SupplyType": "str", "ClusterType": "str"}, "Queues": ["str"],
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
            "Name", f"must be 1-{MAX_TASK_NAME} letters, digits, _ or -, starting with a letter or digit"
        )
    if p["ChargeType"] not in CHARGE_TYPES:
        raise invalid("ChargeType", f"must be one of {', '.join(CHARGE_TYPES)}")
    if not p["ResourceConfigInfos"]:
        raise invalid("ResourceConfigInfos", "must hold at least one role")
    for i, res in enumerate(p["ResourceConfigInfos"]):
        if not res["Role"].strip():
            raise invalid(f"ResourceConfigInfos.{i}.Role", "must not be empty")
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
