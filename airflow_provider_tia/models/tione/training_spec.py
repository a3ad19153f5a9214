"""TI-ONE's CreateTrainingTask request as data (``TrainingTaskSpec``).

``TRAINING_SPEC_FIELDS`` is the one table of the request: the keyword (snake_case), the API name, a
doc line and a validator (``models.checks``). Nested objects are plain dicts with the API's field
names, validated after rendering; a bad value raises ``JobSpecError`` naming its path. No Airflow, no
network.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.models import checks as c
from airflow_provider_tia.models.common import RequestSpec, SpecField

MAX_NAME_LENGTH = 60
# Chinese/English letters, digits, '_' and '-', starting with a letter or digit. fullmatch: a `$`
# would also accept a trailing newline.
NAME_PATTERN = r"[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff-]*"  # fullmatch, compiled on first use
NAME_RULES = "use letters (Chinese or English), digits, '_' and '-', starting with a letter or digit"
CHARGE_TYPES = ("PREPAID", "POSTPAID_BY_HOUR")
IMAGE_TYPES = ("TCR", "CCR", "PreSet", "PRE_SET", "CUSTOM")
MAX_DATA_CONFIGS = 10
# The roles of ResourceConfigInfo.Role: those CreateTrainingTask documents, and HEAD, which Tencent's own
# client sends for RAY; a misspelt one (WROKER) is refused before any call. (Which roles each TrainingMode
# takes is not documented: the service decides that.)
ROLES = ("WORKER", "PS", "DRIVER", "EXECUTOR", "HEAD")


def _one_path(cos: dict[str, Any], path: str) -> None:
    if len(cos["Paths"]) != 1:
        c.fail(f"{path}.Paths", f"must hold exactly one path (TI-ONE supports one), got {len(cos['Paths'])}")


_STR = c.text()
COS_PATH = c.model(
    "CosPathInfo", "Bucket Region Paths", _one_path, Bucket=_STR, Region=_STR, Paths=c.items(_STR)
)
RESOURCE_CONFIG_INFO = c.model(
    "ResourceConfigInfo",
    "Role InstanceNum",
    Role=c.text(choices=ROLES),
    Cpu=c.integer(low=0),
    Memory=c.integer(low=0),
    GpuType=_STR,
    Gpu=c.integer(low=0),
    InstanceType=_STR,
    InstanceNum=c.integer(low=1),
    InstanceTypeAlias=_STR,
    RDMAConfig=c.model("RDMAConfig", Enable=c.boolean),
)
TAG = c.model("Tag", "TagKey TagValue", TagKey=_STR, TagValue=_STR)
ENV_VAR = c.model("EnvVar", "Name", Name=_STR, Value=c.secret, IsPrivate=c.boolean)
IMAGE_SECRET = c.model("ImageSecret", KeyId=_STR, Username=_STR, Password=c.secret, SecretId=_STR)
IMAGE_INFO = c.model(
    "ImageInfo",
    "ImageType ImageUrl",
    ImageType=c.text(choices=IMAGE_TYPES),
    ImageUrl=_STR,
    RegistryRegion=_STR,
    RegistryId=_STR,
    AllowSaveAllContent=c.boolean,
    ImageName=_STR,
    SupportDataPipeline=c.boolean,
    ImageSecret=IMAGE_SECRET,
)
START_CMD_INFO = c.model("StartCmdInfo", StartCmd=_STR, PsStartCmd=_STR, WorkerStartCmd=_STR)
_ID_PATH = {"Id": _STR, "Path": _STR}
DATA_CONFIG = c.model(
    "DataConfig",
    MappingPath=_STR,
    DataSourceUsage=_STR,
    DataSourceType=_STR,
    DataSetSource=c.model("DataSetConfig", "Id", Id=_STR),
    COSSource=COS_PATH,
    CFSSource=c.model(
        "CFSConfig", "Id Path", MountType=_STR, Protocol=_STR, IsPresetStorage=c.boolean, **_ID_PATH
    ),
    HDFSSource=c.model("HDFSConfig", "Id Path", **_ID_PATH),
    GooseFSSource=c.model("GooseFS", Type=_STR, NameSpace=_STR, MountOptions=_STR, **_ID_PATH),
    CFSTurboSource=c.model("CFSTurbo", **_ID_PATH),
    LocalDiskSource=c.model("LocalDisk", InstanceId=_STR, LocalPath=_STR),
    CBSSource=c.model("CBSConfig", VolumeSizeInGB=c.integer(low=1)),
    HostPathSource=c.model("HostPath", Path=_STR),
    PublicDataSource=c.model("PublicDataSourceFS", DataSourceId=_STR, SubPath=_STR),
    ReadOnly=c.boolean,
)
LOG_CONFIG = c.model("LogConfig", "LogsetId TopicId", LogsetId=_STR, TopicId=_STR)
ENCODED_START_CMD_INFO = c.model("EncodedStartCmdInfo", "StartCmdInfo", StartCmdInfo=_STR)
CODE_REPO = c.model("CodeRepoConfig", "Id TargetPath", Id=_STR, TargetPath=_STR)
EXPOSE_NETWORK_CONFIG = c.model(
    "ExposeNetworkConfig",
    SSHConfig=c.model(
        "SSHConfig",
        Enable=c.boolean,
        PublicKey=_STR,
        Port=c.integer(low=1, high=65535),
        LoginCommand=_STR,
        IsAddressChanged=c.boolean,
        PodSSHInfo=lambda value, path: value,  # reply-only detail, passed through
    ),
    ExposePortConfig=c.model("ExposePortConfig", Enable=c.boolean, VpcId=_STR, ClbId=_STR, ClbHost=_STR),
)
TRAIN_TOOL_CONFIG = c.model(
    "TrainToolConfig",
    EnableHangMonitor=c.boolean,
    HangMonitorNodes=c.items(_STR),
    LogHangTimeoutInMinute=c.integer(low=1, high=14400),
)
RESOURCE_SUPPLY_ATTRIBUTE = c.model("ResourceSupplyAttribute", SupplyType=_STR, ClusterType=_STR)

# Every CreateTrainingTask request field (a test compares this with the SDK's request model).
TRAINING_SPEC_FIELDS: tuple[SpecField, ...] = tuple(
    SpecField(attr, api, kind, doc, required=required, check=check)
    for attr, api, kind, doc, required, check in (
        ("name", "Name", "str", "Task name: <= 60 letters (Chinese/English), digits, '_', '-'; starts with a letter or digit.", True, c.text(max_len=MAX_NAME_LENGTH, pattern=NAME_PATTERN, rules=NAME_RULES)),
        ("charge_type", "ChargeType", "str", "``POSTPAID_BY_HOUR`` (pay-as-you-go) or ``PREPAID`` (needs resource_group_id).", True, c.text(choices=CHARGE_TYPES)),
        ("resource_config_infos", "ResourceConfigInfos", "list[dict]", "Resources per role, e.g. ``[{'Role': 'WORKER', 'InstanceType': 'TI.S.MEDIUM.POST', 'InstanceNum': 1}]``.", True, c.items(RESOURCE_CONFIG_INFO, min_items=1, what="roles")),
        ("ti_project_id", "TiProjectId", "str", "TI workspace (omit for the default one).", False, _STR),
        ("framework_name", "FrameworkName", "str", "Framework, e.g. ``PYTORCH``, ``TENSORFLOW``.", False, _STR),
        ("framework_version", "FrameworkVersion", "str", "Framework version, e.g. ``1.9``.", False, _STR),
        ("framework_environment", "FrameworkEnvironment", "str", "Preset environment, e.g. ``torch1.9-py3.8-cuda11.1-gpu``.", False, _STR),
        ("resource_group_id", "ResourceGroupId", "str", "Prepaid resource group (with charge_type ``PREPAID``).", False, _STR),
        ("tags", "Tags", "dict | list[dict]", "Tags: a dict, or the API's ``[{'TagKey': ..., 'TagValue': ...}]``.", False, c.pairs(c.items(TAG), "TagKey", "TagValue")),
        ("image_info", "ImageInfo", "dict", "Custom image: ``{'ImageType': 'CCR', 'ImageUrl': ...}``.", False, IMAGE_INFO),
        ("code_package_path", "CodePackagePath", "dict", "Code package on COS: ``{'Bucket', 'Region', 'Paths': [one path]}``.", False, COS_PATH),
        ("start_cmd_info", "StartCmdInfo", "dict", "Start commands per role: ``{'StartCmd', 'PsStartCmd', 'WorkerStartCmd'}``.", False, START_CMD_INFO),
        ("training_mode", "TrainingMode", "str", "e.g. ``PS_WORKER``, ``DDP``, ``MPI``, ``HOROVOD``.", False, _STR),
        ("data_configs", "DataConfigs", "list[dict]", f"Input data (at most {MAX_DATA_CONFIGS} DataConfig objects).", False, c.items(DATA_CONFIG, max_items=MAX_DATA_CONFIGS, what="data configs")),
        ("vpc_id", "VpcId", "str", "VPC to attach.", False, _STR),
        ("subnet_id", "SubnetId", "str", "Subnet to attach.", False, _STR),
        ("output_path", "Output", "dict", "Output on COS: ``{'Bucket', 'Region', 'Paths': [one path]}``.", False, COS_PATH),
        ("log_config", "LogConfig", "dict", "CLS delivery: ``{'LogsetId', 'TopicId'}``.", False, LOG_CONFIG),
        ("tuning_parameters", "TuningParameters", "str", "Hyperparameters (<= 2048 characters; a dict is written as JSON).", False, c.json_text(max_len=2048)),
        ("log_enable", "LogEnable", "bool", "Whether the task reports logs.", False, c.boolean),
        ("remark", "Remark", "str", "Remark (<= 1024 characters).", False, c.text(max_len=1024)),
        ("data_source", "DataSource", "str", "DATASET, COS, CFS, CFSTurbo, HDFS or GooseFSx.", False, _STR),
        ("callback_url", "CallbackUrl", "str", "URL for the service's asynchronous callbacks.", False, _STR),
        ("encoded_start_cmd_info", "EncodedStartCmdInfo", "dict", "Base64 start commands ``{'StartCmdInfo': ...}``; wins over start_cmd_info.", False, ENCODED_START_CMD_INFO),
        ("code_repos", "CodeRepos", "list[dict]", "Code repositories ``[{'Id', 'TargetPath'}]``.", False, c.items(CODE_REPO)),
        ("expose_network_config", "ExposeNetworkConfig", "dict", "SSH / port exposure.", False, EXPOSE_NETWORK_CONFIG),
        ("envs", "Envs", "dict | list[dict]", "Environment variables: a dict, or ``[{'Name', 'Value'}]`` (values are masked as secrets).", False, c.pairs(c.items(ENV_VAR), "Name", "Value")),
        ("train_tool_config", "TrainToolConfig", "dict", "Hang detection (LogHangTimeoutInMinute in [1, 14400]).", False, TRAIN_TOOL_CONFIG),
        ("resource_supply_attribute", "ResourceSupplyAttribute", "dict", "``{'SupplyType': 'TIDE'|'SPOT'|'', 'ClusterType'}``.", False, RESOURCE_SUPPLY_ATTRIBUTE),
        ("queues", "Queues", "list[str]", "Queue IDs, e.g. ``['q-bj-2f0a9dca']``.", False, c.items(_STR)),
    )
)  # fmt: skip
TRAINING_API_NAMES: dict[str, str] = {f.attr: f.api for f in TRAINING_SPEC_FIELDS}


def start_cmd_info(cmd: str) -> dict[str, str]:
    """StartCmdInfo for one command: in StartCmd and WorkerStartCmd, so it runs whichever the service reads."""
    return {"StartCmd": cmd, "PsStartCmd": "", "WorkerStartCmd": cmd}


class TrainingTaskSpec(RequestSpec):
    """Every CreateTrainingTask field (``TRAINING_SPEC_FIELDS``), validated (and converted) on construction.

    Example::

        spec = TrainingTaskSpec(
            name="resnet-ddp", charge_type="POSTPAID_BY_HOUR",
            resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": "2"}],
            start_cmd="python train.py", envs={"EPOCHS": "3"}, tags={"team": "ml"},
        )
        spec.to_request()  # {"Name": "resnet-ddp", ..., "Envs": [{"Name": "EPOCHS", "Value": "3"}]}

    ``start_cmd`` (one command for every role) is refused together with start_cmd_info or
    encoded_start_cmd_info. Env values and image passwords are registered as secrets.
    """

    ACTION = "CreateTrainingTask"
    FIELDS = TRAINING_SPEC_FIELDS

    def __init__(self, *, start_cmd: str | None = None, **values: Any) -> None:
        if start_cmd is not None:
            if values.get("start_cmd_info") is not None or values.get("encoded_start_cmd_info") is not None:
                raise JobSpecError(
                    "start_cmd", "is refused together with start_cmd_info or encoded_start_cmd_info: pass one"
                )
            values["start_cmd_info"] = start_cmd_info(c.text()(start_cmd, "start_cmd"))
        super().__init__(**values)

    def cross_check(self, values: dict[str, Any]) -> None:
        if values.get("charge_type") == "PREPAID" and not values.get("resource_group_id"):
            raise JobSpecError(
                "resource_group_id", "is required when charge_type is PREPAID", api_name="ResourceGroupId"
            )

    def secrets(self) -> list[str | None]:
        image_secret = (self.image_info or {}).get("ImageSecret") or {}
        return [*(env.get("Value") for env in self.envs or ()), image_secret.get("Password")]

    def with_tags(self, tags: dict[str, str]) -> TrainingTaskSpec:
        """The same spec with these tags added (replacing tags of the same keys)."""
        merged = {tag["TagKey"]: tag["TagValue"] for tag in self.tags or ()}  # type: ignore[index]
        return self.replace(tags={**merged, **tags})

    def with_name(self, name: str) -> TrainingTaskSpec:
        """The same spec under another name (validated again)."""
        return self.replace(name=name)

    def with_code_package(self, bucket: str, region: str, path: str) -> TrainingTaskSpec:
        """The same spec with its code package at ``cos://bucket/path`` in ``region``."""
        return self.replace(code_package_path={"Bucket": bucket, "Region": region, "Paths": [path]})
