"""TI-ONE replies rendered from a stored task, with the real service's empty values (``""``, ``[]``,
``{"Bucket": "", "Region": "", "Paths": []}``) for what was never set."""

from __future__ import annotations

import re
import time

from ..core.timefmt import tione_detail_time, tione_list_time
from .schema import START_CMD, start_commands
from .store import TERMINAL, replicas

EMPTY_COS = {"Bucket": "", "Region": "", "Paths": []}
CREATOR_TAG = "qcs:tag:createdBy"
PRESET_REGISTRY = "tione.tencentcloudcr.com/qcloud-ti-platform"
# Where the resources of a charge type come from, as Tencent's own client labels them (its task table
# fails without this field): pay-as-you-go from the platform, prepaid from a resource group bought on it.
RESOURCE_GROUP_SW_TYPES = {"POSTPAID_BY_HOUR": "NONE", "PREPAID": "NORMAL"}
POD_STATUS = {
    "SUBMITTING": "SUBMITTING", "PENDING": "PENDING", "STARTING": "PENDING", "RUNNING": "RUNNING",
    "STOPPING": "TERMINATING", "STOPPED": "TERMINATED", "SUCCEED": "SUCCEEDED", "FAILED": "FAILED",
    "SUBMIT_FAILED": "FAILED",
}  # fmt: skip


def tags(task: dict) -> list[dict]:
    """The task's tags, the platform's creator tag first."""
    creator = {"TagKey": CREATOR_TAG, "TagValue": f"CAMUser:{task['Uin']}:{task['Uin']}"}
    return [creator, *task["Spec"].get("Tags", [])]


def _resources(task: dict) -> list[dict]:
    defaults = {
        "Cpu": 0, "Memory": 0, "GpuType": "", "Gpu": 0, "InstanceType": "", "InstanceTypeAlias": "",
        "InstanceNum": 1, "RDMAConfig": {"Enable": False},
    }  # fmt: skip
    return [{**defaults, **res} for res in task["Spec"]["ResourceConfigInfos"]]


def _runtime(task: dict) -> int:
    if task["StartNs"] is None:
        return 0
    end = task["EndNs"] if task["Status"] in TERMINAL and task["EndNs"] else time.time_ns()
    return max(0, (end - task["StartNs"]) // 1_000_000_000)


def image_info(spec: dict) -> dict | None:
    """The task's image: its ImageInfo, else for a framework environment the platform's preset image
    (ImageType ``PRE_SET``, as the service reports it), else None."""
    if "ImageInfo" in spec:
        return dict(spec["ImageInfo"])
    env = spec.get("FrameworkEnvironment", "")
    if not env:
        return None
    repo = re.sub(r"[^a-z0-9._-]+", "-", spec.get("FrameworkName", "").lower()).strip("-._") or "framework"
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", env)[:128]
    return {
        "ImageType": "PRE_SET", "ImageUrl": f"{PRESET_REGISTRY}/{repo}:{tag}", "RegistryRegion": "",
        "RegistryId": "", "ImageName": env,
    }  # fmt: skip


def _common(task: dict) -> dict:
    """Fields the Detail and the list item share."""
    spec = task["Spec"]
    return {
        "Id": task["Id"], "Name": task["Name"], "SubUin": task["Uin"], "SubUinName": task["Uin"],
        "FrameworkName": spec.get("FrameworkName", ""), "FrameworkVersion": spec.get("FrameworkVersion", ""),
        "FrameworkEnvironment": spec.get("FrameworkEnvironment", ""), "ChargeType": spec["ChargeType"],
        "ChargeStatus": task["ChargeStatus"], "ResourceGroupId": spec.get("ResourceGroupId", ""),
        "ResourceGroupName": "", "ResourceConfigInfos": _resources(task), "Tags": tags(task),
        "TrainingMode": spec.get("TrainingMode", ""), "Output": spec.get("Output", EMPTY_COS),
        "ImageInfo": image_info(spec), "RuntimeInSeconds": _runtime(task),
        "FailureReason": task["FailureReason"], "Message": task["Message"], "BillingInfo": "",
        "Status": task["Status"], "CallbackUrl": spec.get("CallbackUrl", ""),
    }  # fmt: skip


def detail(task: dict) -> dict:
    """TrainingTaskDetail: times like ``2025-05-28T18:18:33+08``."""
    spec = task["Spec"]
    times = {k: tione_detail_time(task[f"{k}Ns"]) for k in ("Create", "Update", "Start", "End")}
    return {
        **_common(task), "Uin": task["Uin"], "Region": task["Region"],
        "CodePackagePath": spec.get("CodePackagePath", EMPTY_COS),
        "StartCmdInfo": _start_cmd_info(spec),
        "DataSource": spec.get("DataSource", ""), "DataConfigs": spec.get("DataConfigs", []),
        "TuningParameters": spec.get("TuningParameters", ""), "LogEnable": spec.get("LogEnable", False),
        "LogConfig": spec.get("LogConfig", {"LogsetId": "", "TopicId": ""}), "VpcId": spec.get("VpcId", ""),
        "SubnetId": spec.get("SubnetId", ""), "LatestInstanceId": task["LatestInstanceId"],
        "TensorBoardId": "", "Remark": spec.get("Remark", ""), "CodeRepos": spec.get("CodeRepos", []),
        **{f"{k}Time": v for k, v in times.items()},
        **({"ExposeNetworkConfig": spec["ExposeNetworkConfig"]} if "ExposeNetworkConfig" in spec else {}),
    }  # fmt: skip


def _start_cmd_info(spec: dict) -> dict:
    """StartCmdInfo as run: decoded from EncodedStartCmdInfo when that was sent (replies have no encoded
    form); the given StartCmdInfo if it does not decode (a task saved by an earlier emulator)."""
    try:
        return start_commands(spec)
    except ValueError:
        return {**dict.fromkeys(START_CMD, ""), **spec.get("StartCmdInfo", {})}


def list_item(task: dict) -> dict:
    """TrainingTaskSetItem: times like ``2025-01-01 00:00:00`` (UTC+8), Envs included, no LatestInstanceId.

    Also two fields Tencent's own client reads from list items though the SDK's model lacks them:
    ``ResourceGroupSWType`` and ``AIMarketTemplateId`` ("" for a task not made from an AI-market
    template; its table calls any task without a framework name a built-in model otherwise)."""
    times = {k: tione_list_time(task[f"{k}Ns"]) for k in ("Create", "Update", "Start", "End")}
    return {
        **_common(task),
        "AppId": str(task["AppId"]),
        "Envs": task["Spec"].get("Envs", []),
        "ResourceGroupSWType": RESOURCE_GROUP_SW_TYPES.get(task["Spec"]["ChargeType"], ""),
        "AIMarketTemplateId": "",
        **{f"{k}Time": v for k, v in times.items()},
    }


def pods(task: dict) -> dict:
    """DescribeTrainingTaskPods reply: one pod per replica of the latest instance."""
    status = POD_STATUS.get(task["Status"], "PENDING")
    by_role = {res["Role"]: res for res in _resources(task)}
    started = task["StartNs"] is not None
    infos = [
        {
            "Name": pod,
            "IP": "127.0.0.1" if started else "",
            "Status": status,
            "StartTime": tione_list_time(task["StartNs"]),
            "EndTime": tione_list_time(task["EndNs"]) if task["Status"] in TERMINAL else "",
            "ResourceConfigInfo": {**by_role[role], "InstanceNum": 1},
            "SubUin": task["Uin"],
        }  # fmt: skip
        for role, _, pod in replicas(task)
    ]
    return {"PodNames": [i["Name"] for i in infos], "TotalCount": len(infos), "PodInfoList": infos}
