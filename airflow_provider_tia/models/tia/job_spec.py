"""TI-A's CreateJob request as data: ``SPEC_FIELDS`` (the one table of the request: keyword, API name,
kind, doc line), ``JobSpec`` and its checks, and ``build_spec`` from rendered operator arguments.

No Airflow, no network: everything here is unit-tested without I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.models.common import RequestSpec, SpecField

if TYPE_CHECKING:
    from airflow_provider_tia.models.tia.job import Job

CUSTOM_TIERS = ("Custom", "CUSTOM")
# TI-A runs jobs as Kubernetes pods named `<job>-<replica>-<n>`, so job names are DNS-1123 labels.
# Matched with fullmatch: `$` would also accept a trailing newline ("job\n").
# Patterns are compiled on first use (``re``'s cache), not when a DAG file imports the provider.
_NAME_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
MAX_NAME_LENGTH = 63
# Machine types read <cpu>U<memory GB>G<gpus>P, e.g. 1U1G0P, 16U48G1P.
# ASCII digits only (`\d` would accept "١U1G0P"), matched with fullmatch (no trailing newline).
_MACHINE_TYPE = r"[0-9]+U[0-9]+G[0-9]+P"


SPEC_FIELDS: tuple[SpecField, ...] = (
    SpecField(
        "name", "Name", "str", "Job name: a DNS-1123 label (lowercase letters, digits, '-'; <= 63).", True
    ),
    SpecField(
        "cluster",
        "Cluster",
        "str",
        "Cluster that runs the job, e.g. ``ap-beijing`` or ``cls-xxxxxxxx``.",
        True,
    ),
    SpecField("runtime_version", "RuntimeVersion", "str", "Runtime, e.g. ``tia-1.7.0``.", True),
    SpecField("package_dir", "PackageDir", "list", "Mounted paths (NFS, CFS or COS addresses)."),
    SpecField("command", "Command", "list", "Start command, e.g. ``['python']``."),
    SpecField("args", "Args", "list", "Start arguments, e.g. ``['train.py', '--epochs', '3']``."),
    SpecField("scale_tier", "ScaleTier", "str", "``Custom`` (or ``CUSTOM``) enables the five fields below."),
    SpecField("master_type", "MasterType", "str", "Master machine type, e.g. ``1U1G0P``.", custom_only=True),
    SpecField(
        "worker_type",
        "WorkerType",
        "str",
        "Worker machine type (needed when worker_count > 0).",
        custom_only=True,
    ),
    SpecField(
        "parameter_server_type",
        "ParameterServerType",
        "str",
        "Parameter-server machine type (needed when parameter_server_count > 0).",
        custom_only=True,
    ),
    SpecField(
        "worker_count",
        "WorkerCount",
        "count",
        "Number of workers (text such as ``'3'`` is converted).",
        custom_only=True,
    ),
    SpecField(
        "parameter_server_count",
        "ParameterServerCount",
        "count",
        "Number of parameter servers.",
        custom_only=True,
    ),
    SpecField("debug", "Debug", "bool", "Debug mode (text such as ``'true'`` is converted)."),
    SpecField("runtime_conf", "RuntimeConf", "list", "Extra runtime configuration entries."),
)
API_NAMES: dict[str, str] = {f.attr: f.api for f in SPEC_FIELDS}


class JobSpec(RequestSpec):
    """Every CreateJob parameter (``SPEC_FIELDS``), validated on construction.

    Example::

        spec = JobSpec(name="test-job", cluster="ap-beijing", runtime_version="tia-1.7.0",
                       command=["python"], args=["train.py"], scale_tier="Custom",
                       master_type="1U1G0P", worker_type="1U1G0P", worker_count=2)
        spec.to_request()  # {"Name": "test-job", ..., "WorkerCount": 2}

    A bad value raises ``JobSpecError`` naming the parameter (``worker_count (WorkerCount) ...``).
    """

    ACTION = "CreateJob"
    FIELDS = SPEC_FIELDS

    def check_field(self, field: SpecField, value: Any) -> Any:
        return _check_value(field, value)

    def cross_check(self, values: dict[str, Any]) -> None:
        _check_name(values["name"])
        _check_scale(values)

    @property
    def is_custom(self) -> bool:
        return self.scale_tier in CUSTOM_TIERS

    def with_name(self, name: str) -> JobSpec:
        """The same spec under another job name (validated)."""
        return self.replace(name=name)

    def matches(self, job: Job) -> bool:
        """Whether an existing job was created from this spec (used to reconcile a lost CreateJob reply)."""
        raw = job.raw
        for api_name, value in self.to_request().items():
            if api_name in raw and raw[api_name] is not None:
                theirs = raw[api_name]
                if api_name == "ScaleTier":
                    theirs, value = str(theirs).lower(), str(value).lower()
                if theirs != value:
                    return False
        return True


def _check_value(field: SpecField, value: Any) -> Any:
    """A set value checked by its kind (TI-A's table has no per-field validators)."""
    if field.kind == "str":
        if not isinstance(value, str):
            raise JobSpecError(
                field.attr, f"must be a string, got {type(value).__name__}", api_name=field.api
            )
        if not value.strip():
            raise JobSpecError(field.attr, "must not be empty", api_name=field.api)
        return value
    if field.kind == "list":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise JobSpecError(
                field.attr,
                f"must be a list of strings, got {type(value).__name__} {value!r:.60}"
                + (f"; write [{value!r:.60}]" if isinstance(value, str) else ""),
                api_name=field.api,
            )
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise JobSpecError(
                    field.attr,
                    f"item {index} must be a string, got {type(item).__name__} {item!r:.60}",
                    api_name=field.api,
                )
        if field.attr in ("package_dir", "command") and any(not item.strip() for item in value):
            raise JobSpecError(field.attr, "must not contain empty strings", api_name=field.api)
        return list(value)
    if field.kind == "count":
        if isinstance(value, bool) or not isinstance(value, int):
            raise JobSpecError(
                field.attr,
                f"must be a non-negative integer, got {type(value).__name__} {value!r:.60}",
                api_name=field.api,
            )
        if value < 0:
            raise JobSpecError(field.attr, f"must be a non-negative integer, got {value}", api_name=field.api)
        return value
    if not isinstance(value, bool):
        raise JobSpecError(
            field.attr, f"must be true or false, got {type(value).__name__}", api_name=field.api
        )
    return value


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH or not re.fullmatch(_NAME_PATTERN, name):
        raise JobSpecError(
            "name",
            f"{name!r:.80} is not a valid job name: use at most {MAX_NAME_LENGTH} lowercase letters, digits "
            "and '-', starting and ending with a letter or digit",
            api_name="Name",
        )


def _check_scale(spec: Mapping[str, Any]) -> None:
    tier = spec.get("scale_tier")
    if tier is not None and tier not in CUSTOM_TIERS and tier.lower() == "custom":
        raise JobSpecError(
            "scale_tier", f"must be spelled 'Custom' or 'CUSTOM', got {tier!r}", api_name="ScaleTier"
        )
    custom_fields = [f for f in SPEC_FIELDS if f.custom_only]
    if tier not in CUSTOM_TIERS:
        for field in custom_fields:
            if spec.get(field.attr) is not None:
                raise JobSpecError(
                    field.attr,
                    f"is only valid when scale_tier is 'Custom' (scale_tier is {tier!r})",
                    api_name=field.api,
                )
        return
    if spec.get("master_type") is None:
        raise JobSpecError("master_type", "is required when scale_tier is 'Custom'", api_name="MasterType")
    for field in custom_fields:
        value = spec.get(field.attr)
        if field.kind == "str" and value is not None and not re.fullmatch(_MACHINE_TYPE, value):
            raise JobSpecError(
                field.attr,
                f"{value!r:.40} is not a machine type like 1U1G0P (<cpu>U<memory GB>G<gpus>P)",
                api_name=field.api,
            )
    if (spec.get("worker_count") or 0) > 0 and spec.get("worker_type") is None:
        raise JobSpecError("worker_type", "is required when worker_count > 0", api_name="WorkerType")
    if (spec.get("parameter_server_count") or 0) > 0 and spec.get("parameter_server_type") is None:
        raise JobSpecError(
            "parameter_server_type",
            "is required when parameter_server_count > 0",
            api_name="ParameterServerType",
        )


COUNT_FIELDS = tuple(f.attr for f in SPEC_FIELDS if f.kind == "count")


BOOL_FIELDS = tuple(f.attr for f in SPEC_FIELDS if f.kind == "bool")


_TRUE = {"true", "yes", "1", "on"}


_FALSE = {"false", "no", "0", "off"}


def coerce(parameter: str, value: Any) -> Any:
    """Turn a count or flag rendered as text (``"3"``, ``"true"``) into its type; other values pass.

    Example::

        coerce("worker_count", " 3 ")  # 3
        coerce("worker_count", "three")  # JobSpecError: Invalid parameter worker_count (WorkerCount): ...
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if parameter in COUNT_FIELDS:
        if re.fullmatch(r"\d+", text):
            return int(text)
        raise JobSpecError(
            parameter,
            f"must be a non-negative integer, got the string {value!r:.60} (after rendering templates)",
            api_name=API_NAMES[parameter],
        )
    if parameter in BOOL_FIELDS:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise JobSpecError(
            parameter,
            f"must be true or false, got the string {value!r:.60} (after rendering templates)",
            api_name=API_NAMES[parameter],
        )
    return value


def build_spec(values: Mapping[str, Any]) -> JobSpec:
    """A validated ``JobSpec`` from rendered operator values (``JobSpecError`` names the parameter)."""
    return JobSpec.from_kwargs(**{key: coerce(key, value) for key, value in values.items()})
