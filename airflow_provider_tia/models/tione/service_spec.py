"""TI-ONE's CreateModelService request as data (``ModelServiceSpec``).

``SERVICE_SPEC_FIELDS`` is the one table of the request: the keyword (snake_case), the API name, a doc
line and a validator (``models.checks``). Nested objects are plain dicts with the API's field names,
validated after rendering; a bad value raises ``JobSpecError`` naming its path, before any call. Env values
and image passwords are registered as secrets. No Airflow, no network.

Rules the service does not publish, as assumed here: a new version of a group needs ``NewVersion=true``
(set for you when ``service_group_id`` is given); PREPAID needs a resource group and POSTPAID_BY_HOUR an
instance type; at least one of the model and the image is given.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.models import checks as c
from airflow_provider_tia.models.common import RequestSpec, SpecField
from airflow_provider_tia.models.tione.training_spec import (
    ENV_VAR,
    LOG_CONFIG,
    RESOURCE_SUPPLY_ATTRIBUTE,
    TAG,
)

GROUP_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"  # fullmatch, compiled on first use
GROUP_NAME_RULES = "use 1-60 English letters, digits, '_' and '-', starting with a letter or digit"
CHARGE_TYPES = ("PREPAID", "POSTPAID_BY_HOUR", "HYBRID_PAID")

_STR, _INT, _BOOL = c.text(), c.integer(low=0), c.boolean
_PASS = lambda value, path: value  # noqa: E731 - nested shapes the service checks (probes, volumes...)
IMAGE_INFO = c.model(
    "ImageInfo", "ImageType ImageUrl",
    ImageType=c.text(choices=("TCR", "CCR", "PreSet", "PRE_SET", "PRESET", "CUSTOM")), ImageUrl=_STR,
    RegistryRegion=_STR, RegistryId=_STR, AllowSaveAllContent=_BOOL, ImageName=_STR, SupportDataPipeline=_BOOL,
    ImageSecret=c.model("ImageSecret", KeyId=_STR, Username=_STR, Password=c.secret, SecretId=_STR),
)  # fmt: skip
_PUBLIC_DATA = c.model("PublicDataSourceFS", DataSourceId=_STR, SubPath=_STR)
MODEL_INFO = c.model(
    "ModelInfo", "ModelVersionId",
    ModelVersionId=_STR, ModelId=_STR, ModelName=_STR, ModelVersion=_STR, ModelSource=_STR,
    CosPathInfo=c.model("CosPathInfo", "Bucket Region Paths", Bucket=_STR, Region=_STR, Paths=c.items(_STR)),
    GooseFSx=c.model("GooseFSx", Id=_STR, Path=_STR), AlgorithmFramework=_STR, ModelType=_STR, ModelFormat=_STR,
    IsPrivateModel=_BOOL, ModelCategory=_STR, PublicDataSource=_PUBLIC_DATA,
)  # fmt: skip
RESOURCES = c.model(
    "ResourceInfo", "Cpu Memory", Cpu=_INT, Memory=_INT, Gpu=_INT, GpuType=_STR, RealGpu=_INT,
    RealGpuDetailSet=_PASS, EnableRDMA=_BOOL, RdmaNumber=_INT, RootDisk=_INT, DataDisk=_INT, Rdma=c.integer(low=0, high=99),
)  # fmt: skip
HPA = c.model(
    "HorizontalPodAutoscaler", "MinReplicas MaxReplicas HpaMetrics", MinReplicas=_INT, MaxReplicas=_INT,
    HpaMetrics=c.items(c.model("Option", "Name Value", Name=_STR, Value=_INT)),
    ScaleUpStabilizationWindowSeconds=_INT, ScaleDownStabilizationWindowSeconds=_INT,
)  # fmt: skip
CRON_SCALE_JOB = c.model(
    "CronScaleJob", "Schedule", Schedule=_STR, Name=_STR, TargetReplicas=_INT, MinReplicas=_INT,
    MaxReplicas=_INT, ExcludeDates=c.items(_STR, max_items=3, what="dates"),
)  # fmt: skip
VOLUME_MOUNT = c.model(
    "VolumeMount", CFSConfig=c.model("CFSConfig", "Id Path", Id=_STR, Path=_STR, MountType=_STR, Protocol=_STR,
                                     IsPresetStorage=_BOOL),
    VolumeSourceType=_STR, MountPath=_STR, PublicDataSource=_PUBLIC_DATA,
)  # fmt: skip
_PROBE = c.model(
    "Probe", ProbeAction=_PASS, InitialDelaySeconds=_INT, PeriodSeconds=_INT, TimeoutSeconds=_INT,
    FailureThreshold=_INT, SuccessThreshold=_INT,
)  # fmt: skip
_NUM = c.model("RollingUpdateValue", Type=c.text(choices=("Num", "Percent")), Value=_INT)
SCALE_MODES, SCALE_STRATEGIES = ("MANUAL", "AUTO"), ("HPA", "CRON")

# Every CreateModelService request field (a test compares this with the SDK's request model).
SERVICE_SPEC_FIELDS: tuple[SpecField, ...] = tuple(
    SpecField(attr, api, kind, doc, check=check)
    for attr, api, kind, doc, check in (
        ("service_group_name", "ServiceGroupName", "str", "New group's name (omit with service_group_id).", c.text(max_len=60, pattern=GROUP_NAME, rules=GROUP_NAME_RULES)),
        ("service_group_id", "ServiceGroupId", "str", "Add a version to this group (``ms-…``; NewVersion is set).", _STR),
        ("new_version", "NewVersion", "bool", "Add a version to service_group_id (set for you when it is given).", _BOOL),
        ("ti_project_id", "TiProjectId", "str", "TI workspace (omit for the default one).", _STR),
        ("service_description", "ServiceDescription", "str", "Description.", _STR),
        ("charge_type", "ChargeType", "str", "``POSTPAID_BY_HOUR``, ``PREPAID`` (needs resource_group_id) or ``HYBRID_PAID``.", c.text(choices=CHARGE_TYPES)),
        ("resource_group_id", "ResourceGroupId", "str", "Prepaid resource group.", _STR),
        ("model_info", "ModelInfo", "dict", "Model to serve: ``{'ModelVersionId': 'mv-…', 'ModelId', 'ModelVersion', 'ModelType'}``.", MODEL_INFO),
        ("image_info", "ImageInfo", "dict", "Runtime image ``{'ImageType', 'ImageUrl'}`` (its password is masked).", IMAGE_INFO),
        ("env", "Env", "dict | list[dict]", "Environment variables: a dict, or ``[{'Name', 'Value'}]`` (values are masked).", c.pairs(c.items(ENV_VAR), "Name", "Value")),
        ("resources", "Resources", "dict", "Prepaid resources per instance ``{'Cpu' (1/1000 core), 'Memory' (MB), 'Gpu' (1/100 card)}``.", RESOURCES),
        ("instance_type", "InstanceType", "str", "Postpaid instance spec, e.g. ``TI.S.MEDIUM.POST``.", _STR),
        ("scale_mode", "ScaleMode", "str", "``MANUAL`` (default) or ``AUTO``.", c.text(choices=SCALE_MODES)),
        ("replicas", "Replicas", "int", "Instances (MANUAL), or the default count (AUTO).", _INT),
        ("horizontal_pod_autoscaler", "HorizontalPodAutoscaler", "dict", "AUTO/HPA: ``{'MinReplicas', 'MaxReplicas', 'HpaMetrics'}``.", HPA),
        ("log_enable", "LogEnable", "bool", "Deliver logs to CLS (needs log_config).", _BOOL),
        ("log_config", "LogConfig", "dict", "CLS ``{'LogsetId', 'TopicId'}``.", LOG_CONFIG),
        ("authorization_enable", "AuthorizationEnable", "bool", "Token authentication on the endpoint.", _BOOL),
        ("tags", "Tags", "dict | list[dict]", "Tags: a dict, or ``[{'TagKey', 'TagValue'}]``.", c.pairs(c.items(TAG), "TagKey", "TagValue")),
        ("cron_scale_jobs", "CronScaleJobs", "list[dict]", "AUTO/CRON: ``[{'Schedule', 'TargetReplicas', …}]``.", c.items(CRON_SCALE_JOB)),
        ("scale_strategy", "ScaleStrategy", "str", "AUTO: ``HPA`` or ``CRON``.", c.text(choices=SCALE_STRATEGIES)),
        ("hybrid_billing_prepaid_replicas", "HybridBillingPrepaidReplicas", "int", "HYBRID_PAID: prepaid instances.", _INT),
        ("create_source", "CreateSource", "str", "``AUTO_ML``, ``AUTO_ML_FORMAL`` or ``DEFAULT``.", _STR),
        ("model_hot_update_enable", "ModelHotUpdateEnable", "bool", "Model hot update.", _BOOL),
        ("scheduled_action", "ScheduledAction", "dict", "Timed stop ``{'ScheduleStop', 'ScheduleStopTime'}``.", c.model("ScheduledAction", ScheduleStop=_BOOL, ScheduleStopTime=_STR)),
        ("volume_mount", "VolumeMount", "dict", "One CFS/COS mount.", VOLUME_MOUNT),
        ("service_limit", "ServiceLimit", "dict", "Per-instance limits ``{'EnableInstanceRpsLimit', 'InstanceRpsLimit', …}``.", c.model("ServiceLimit", EnableInstanceRpsLimit=_BOOL, InstanceRpsLimit=_INT, EnableInstanceReqLimit=_BOOL, InstanceReqLimit=_INT)),
        ("callback_url", "CallbackUrl", "str", "URL called with the creation's result.", _STR),
        ("model_turbo_enable", "ModelTurboEnable", "bool", "Acceleration (StableDiffusion models only).", _BOOL),
        ("service_category", "ServiceCategory", "str", "e.g. ``Normal``.", _STR),
        ("command", "Command", "str", "Start command.", _STR),
        ("service_eip", "ServiceEIP", "dict", "Outbound VPC access ``{'EnableEIP', 'VpcId', 'SubnetId'}``.", c.model("ServiceEIP", EnableEIP=_BOOL, VpcId=_STR, SubnetId=_STR)),
        ("command_base64", "CommandBase64", "str", "Start command in base64 (wins over command).", _STR),
        ("service_port", "ServicePort", "int", "Port of a custom image.", c.integer(low=1, high=65535)),
        ("deploy_type", "DeployType", "str", "``STANDARD`` (default), ``DIST`` or ``ROLE_SET``.", _STR),
        ("instance_per_replicas", "InstancePerReplicas", "int", "Instances per replica (DIST).", c.integer(low=1)),
        ("termination_grace_period_seconds", "TerminationGracePeriodSeconds", "int", "Graceful stop, seconds (>= 1).", c.integer(low=1)),
        ("pre_stop_command", "PreStopCommand", "list[str]", "Pre-stop command.", c.items(_STR)),
        ("grpc_enable", "GrpcEnable", "bool", "Open a gRPC port.", _BOOL),
        ("health_probe", "HealthProbe", "dict", "``{'LivenessProbe', 'ReadinessProbe', 'StartupProbe'}``.", c.model("HealthProbe", LivenessProbe=_PROBE, ReadinessProbe=_PROBE, StartupProbe=_PROBE)),
        ("rolling_update", "RollingUpdate", "dict", "``{'MaxUnavailable', 'MaxSurge'}``, each ``{'Type': 'Num'|'Percent', 'Value'}``.", c.model("RollingUpdate", MaxUnavailable=_NUM, MaxSurge=_NUM)),
        ("sidecar", "Sidecar", "dict", "``{'ImageInfo'}``.", c.model("SidecarSpec", ImageInfo=IMAGE_INFO)),
        ("volume_mounts", "VolumeMounts", "list[dict]", "CFS mounts.", c.items(VOLUME_MOUNT)),
        ("scheduling_strategy", "SchedulingStrategy", "str", "``binpack`` (default) or ``spread``.", _STR),
        ("gateway_log_config", "GatewayLogConfig", "dict", "Gateway logs ``{'LogsetId', 'TopicId'}``.", LOG_CONFIG),
        ("gateway_config", "GatewayConfig", "dict", "``{'GatewayType', 'SchedulingAlgorithm', 'HashHeaderKey'}``.", c.model("GatewayConfig", GatewayType=_STR, SchedulingAlgorithm=_STR, HashHeaderKey=_STR)),
        ("resource_supply_attribute", "ResourceSupplyAttribute", "dict", "``{'SupplyType', 'ClusterType'}``.", RESOURCE_SUPPLY_ATTRIBUTE),
        ("infer_template_id", "InferTemplateId", "str", "Inference template, e.g. ``Qwen3.5-9B``.", _STR),
        ("priority", "Priority", "int", "Priority in [0, 9].", c.integer(low=0, high=9)),
    )
)  # fmt: skip
SERVICE_API_NAMES: dict[str, str] = {f.attr: f.api for f in SERVICE_SPEC_FIELDS}


class ModelServiceSpec(RequestSpec):
    """Every CreateModelService field as a keyword, validated (and converted) on construction.

    Example::

        spec = ModelServiceSpec(
            service_group_name="resnet50", charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST",
            replicas="2", model_info={"ModelVersionId": "mv-v7-1511805105118769999"}, authorization_enable=True,
        )
        spec.to_request()  # {"ServiceGroupName": "resnet50", ..., "Replicas": 2}

    A new group takes ``service_group_name``; a new version of a group takes ``service_group_id`` (and
    ``NewVersion`` true, set here). At least one of model_info and image_info; PREPAID needs
    resource_group_id, POSTPAID_BY_HOUR an instance_type. Env values and image passwords are masked.
    """

    ACTION = "CreateModelService"
    FIELDS = SERVICE_SPEC_FIELDS

    def cross_check(self, values: dict[str, Any]) -> None:
        _cross_check(values)

    def secrets(self) -> list[str | None]:
        images = [self.image_info, (self.sidecar or {}).get("ImageInfo")]
        return [
            *(env.get("Value") for env in self.env or ()),
            *(((image or {}).get("ImageSecret") or {}).get("Password") for image in images),
        ]


def _cross_check(v: dict[str, Any]) -> None:
    if v.get("service_group_id"):
        if v.get("service_group_name"):
            raise JobSpecError("service_group_name", "is refused together with service_group_id: pass one")
        if v.setdefault("new_version", True) is not True:
            raise JobSpecError(
                "new_version", "must be true to add a version to service_group_id", api_name="NewVersion"
            )
    elif not v.get("service_group_name"):
        raise JobSpecError(
            "service_group_name",
            "is required (or service_group_id, to add a version)",
            api_name="ServiceGroupName",
        )
    if "model_info" not in v and "image_info" not in v:
        raise JobSpecError("model_info", "is required unless image_info is given", api_name="ModelInfo")
    if v.get("charge_type") == "PREPAID" and not v.get("resource_group_id"):
        raise JobSpecError(
            "resource_group_id", "is required when charge_type is PREPAID", api_name="ResourceGroupId"
        )
    if v.get("charge_type") == "POSTPAID_BY_HOUR" and not v.get("instance_type"):
        raise JobSpecError(
            "instance_type", "is required when charge_type is POSTPAID_BY_HOUR", api_name="InstanceType"
        )
    if v.get("log_enable") and "log_config" not in v:
        raise JobSpecError("log_config", "is required when log_enable is true", api_name="LogConfig")  # fmt: skip
