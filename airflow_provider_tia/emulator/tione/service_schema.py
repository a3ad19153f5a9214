"""Request shapes and rules of the online-service actions.

What the emulator assumes where the service's rules are not published:

* ``ServiceGroupName`` is unique in an account (``FailedOperation.DuplicateName``), English letters, digits,
  ``_`` and ``-``, at most 60, a letter or digit first.
* ``ChargeType`` is required; POSTPAID_BY_HOUR needs ``InstanceType``, PREPAID ``ResourceGroupId`` and
  ``Resources``. ``ImageInfo`` is optional with a ``ModelInfo`` (the version's inference image is shown).
* Nested configuration the emulator does not act on (probes, scaling policies, volumes, gateway...) is
  checked for its shape, kept and echoed as sent.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.errors import ApiError
from ..core.limits import LOCAL_MAX_REPLICAS
from .schema import _PROJECT, FILTER, IMAGE, TAG, invalid

GROUP_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
CHARGE_TYPES = ("PREPAID", "POSTPAID_BY_HOUR", "HYBRID_PAID")
SCALE_MODES = ("MANUAL", "AUTO")
SERVICE_ACTIONS = ("STOP", "RESUME", "SCALE")
MAX_GROUPS_PAGE = 100
_STR_PAIR = {"Id": "str", "Path": "str"}
PUBLIC_DATA = {"DataSourceId": "str", "SubPath": "str"}
MODEL_INFO = {
    "ModelVersionId!": "str", "ModelId": "str", "ModelName": "str", "ModelVersion": "str", "ModelSource": "str",
    "CosPathInfo": {"Bucket": "str", "Region": "str", "Paths": ["str"]}, "GooseFSx": _STR_PAIR,
    "AlgorithmFramework": "str", "ModelType": "str", "ModelFormat": "str", "IsPrivateModel": "bool",
    "ModelCategory": "str", "PublicDataSource": PUBLIC_DATA,
}  # fmt: skip
ENV = {"Name": "str", "Value": "str", "IsPrivate": "bool"}
RESOURCES = {
    "Cpu!": "int", "Memory!": "int", "Gpu": "int", "GpuType": "str", "RealGpu": "int",
    "RealGpuDetailSet": [{"Name": "str", "Value": "int"}], "EnableRDMA": "bool", "RdmaNumber": "int",
    "Rdma": "int", "RootDisk": "int", "DataDisk": "int",
}  # fmt: skip
LOG_CONFIG = {"LogsetId": "str", "TopicId": "str"}
HPA = {
    "MinReplicas": "int", "MaxReplicas": "int", "HpaMetrics": [{"Name": "str", "Value": "int"}],
    "ScaleUpStabilizationWindowSeconds": "int", "ScaleDownStabilizationWindowSeconds": "int",
}  # fmt: skip
CRON_JOB = {
    "Schedule!": "str", "Name": "str", "TargetReplicas": "int", "MinReplicas": "int", "MaxReplicas": "int",
    "ExcludeDates": ["str"],
}  # fmt: skip
VOLUME = {
    "CFSConfig": {"Id!": "str", "Path!": "str", "MountType": "str", "Protocol": "str", "IsPresetStorage": "bool"},
    "VolumeSourceType": "str", "MountPath": "str", "PublicDataSource": PUBLIC_DATA,
}  # fmt: skip
_PORT = {"Port": "int"}
PROBE = {
    "ProbeAction": {"HTTPGet": {"Path": "str", **_PORT}, "Exec": {"Command": ["str"]}, "TCPSocket": _PORT,
                    "ActionType": "str"},
    "InitialDelaySeconds": "int", "PeriodSeconds": "int", "TimeoutSeconds": "int", "FailureThreshold": "int",
    "SuccessThreshold": "int",
}  # fmt: skip
NUM_OR_PERCENT = {"Type": "str", "Value": "int"}
# The configuration of one service (version): what ModifyModelService replaces as a whole.
CONFIG = {
    "ServiceDescription": "str", "ResourceGroupId": "str", "ModelInfo": MODEL_INFO, "ImageInfo": IMAGE,
    "Env": [ENV], "Resources": RESOURCES, "InstanceType": "str", "ScaleMode": "str", "Replicas": "int",
    "HorizontalPodAutoscaler": HPA, "LogEnable": "bool", "LogConfig": LOG_CONFIG, "CronScaleJobs": [CRON_JOB],
    "ScaleStrategy": "str", "HybridBillingPrepaidReplicas": "int", "ModelHotUpdateEnable": "bool",
    "ScheduledAction": {"ScheduleStop": "bool", "ScheduleStopTime": "str"}, "VolumeMount": VOLUME,
    "ServiceLimit": {"EnableInstanceRpsLimit": "bool", "InstanceRpsLimit": "int", "EnableInstanceReqLimit": "bool",
                     "InstanceReqLimit": "int"},
    "ModelTurboEnable": "bool", "Command": "str", "ServiceEIP": {"EnableEIP": "bool", "VpcId": "str", "SubnetId": "str"},
    "CommandBase64": "str", "ServicePort": "int", "InstancePerReplicas": "int", "TerminationGracePeriodSeconds": "int",
    "PreStopCommand": ["str"], "GrpcEnable": "bool",
    "HealthProbe": {"LivenessProbe": PROBE, "ReadinessProbe": PROBE, "StartupProbe": PROBE},
    "RollingUpdate": {"MaxUnavailable": NUM_OR_PERCENT, "MaxSurge": NUM_OR_PERCENT}, "Sidecar": {"ImageInfo": IMAGE},
    "VolumeMounts": [VOLUME], "SchedulingStrategy": "str", "InferTemplateId": "str", "Priority": "int",
}  # fmt: skip
# Fields of the group or of the creation only (not part of what Modify replaces).
CREATE_ONLY = {
    "ServiceGroupId": "str", "ServiceGroupName": "str", "ChargeType": "str", "AuthorizationEnable": "bool",
    "Tags": [TAG], "NewVersion": "bool", "CreateSource": "str", "CallbackUrl": "str", "ServiceCategory": "str",
    "DeployType": "str", "GatewayLogConfig": LOG_CONFIG,
    "GatewayConfig": {"GatewayType": "str", "SchedulingAlgorithm": "str", "HashHeaderKey": "str"},
    "ResourceSupplyAttribute": {"SupplyType": "str", "ClusterType": "str"},
}  # fmt: skip
_CATEGORY = {"ServiceCategory": "str"}
SERVICE_SCHEMAS: dict[str, dict[str, Any]] = {
    "CreateModelService": {**_PROJECT, **CONFIG, **CREATE_ONLY},
    "ModifyModelService": {"ServiceId!": "str", **_PROJECT, **CONFIG, "ServiceAction": "str", "TargetProjectId": "int"},
    "DescribeModelService": {"ServiceId!": "str", **_PROJECT, **_CATEGORY},
    "DescribeModelServiceGroup": {"ServiceGroupId!": "str", **_PROJECT, **_CATEGORY},
    "DescribeModelServiceGroups": {
        **_PROJECT, "Offset": "int", "Limit": "int", "Order": "str", "OrderField": "str", "Filters": [FILTER],
        "TagFilters": [{"TagKey": "str", "TagValues": ["str"]}], **_CATEGORY,
    },
    "DeleteModelService": {"ServiceId!": "str", **_PROJECT, **_CATEGORY},
    "DeleteModelServiceGroup": {"ServiceGroupId!": "str", **_PROJECT},
    "ModifyServiceGroupWeights": {
        "ServiceGroupId!": "str", "Weights!": [{"ServiceId!": "str", "Weight!": "int"}], **_PROJECT,
    },
    "DescribeModelServiceCallInfo": {"ServiceGroupId!": "str", **_PROJECT, **_CATEGORY},
    "DescribeEvents": {
        "Service!": "str", **_PROJECT, "ServiceId": "str", "StartTime": "str", "EndTime": "str", "Limit": "int",
        "Offset": "int", "Order": "str", "OrderField": "str", "Filters": [FILTER],
    },
}  # fmt: skip


def config_of(p: dict) -> dict:
    """The configuration fields of a checked Create/Modify request."""
    return {k: v for k, v in p.items() if k in CONFIG}


def check_group_fields(p: dict, charge_type: str) -> None:
    """CreateModelService's group-level rules: a valid new name, or an existing group with NewVersion."""
    if p.get("ServiceGroupId"):
        if p.get("NewVersion") is not True:
            raise invalid("NewVersion", "must be true to add a version to the group ServiceGroupId")
    else:
        name = p.get("ServiceGroupName")
        if name is None:
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `ServiceGroupName`."
            )
        if not GROUP_NAME_RE.fullmatch(name):
            raise invalid(
                "ServiceGroupName", "must be 1-60 English letters, digits, _ or -, a letter or digit first"
            )
    if charge_type not in CHARGE_TYPES:
        raise invalid("ChargeType", f"must be one of {', '.join(CHARGE_TYPES)}")


def check_config(cfg: dict, charge_type: str, max_replicas: int = LOCAL_MAX_REPLICAS) -> None:
    """The rules on a service's configuration (Create, and Modify without ServiceAction)."""
    if "ModelInfo" not in cfg and "ImageInfo" not in cfg:
        raise invalid("ModelInfo", "or `ImageInfo` is required (at least one of model and image)")
    if charge_type == "POSTPAID_BY_HOUR" and not cfg.get("InstanceType"):
        raise invalid("InstanceType", "is required with ChargeType POSTPAID_BY_HOUR")
    if charge_type == "PREPAID":
        if not cfg.get("ResourceGroupId"):
            raise invalid("ResourceGroupId", "is required with ChargeType PREPAID")
        if "Resources" not in cfg:
            raise invalid("Resources", "is required with ChargeType PREPAID")
    mode = cfg.get("ScaleMode", "MANUAL")
    if mode not in SCALE_MODES:
        raise invalid("ScaleMode", f"must be one of {', '.join(SCALE_MODES)}")
    check_replicas(cfg, max_replicas)
    for i, env in enumerate(cfg.get("Env", [])):
        if not env.get("Name"):
            raise invalid(f"Env.{i}.Name", "must not be empty")
    if not 0 <= cfg.get("Priority", 0) <= 9:
        raise invalid("Priority", "must be within [0, 9]")


def check_replicas(cfg: dict, max_replicas: int = LOCAL_MAX_REPLICAS) -> None:
    """Replicas within [0, the local bound]: each replica is a process here."""
    if not 0 <= cfg.get("Replicas", 1) <= max_replicas:
        raise invalid("Replicas", f"must be within [0, {max_replicas}] (each replica is a local process)")


def check_action(action: str) -> None:
    if action not in SERVICE_ACTIONS:
        raise invalid("ServiceAction", f"must be one of {', '.join(SERVICE_ACTIONS)}")
