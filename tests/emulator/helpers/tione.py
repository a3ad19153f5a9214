"""Helpers for the TI-ONE emulator tests: the official TioneClient pointed at an emulator, a task spec,
SDK errors, COS (moto) buckets."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tione.v20211111 import models
from tencentcloud.tione.v20211111.tione_client import TioneClient

from .tia import profile

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator

REGION = "ap-guangzhou"
VERSION = "2021-11-11"
TERMINAL = ("SUCCEED", "FAILED", "STOPPED")


def tione(emu: TIAEmulator, secret_id: str | None = None, secret_key: str | None = None) -> TioneClient:
    """An official TioneClient for the emulator (default credential unless given)."""
    cred = Credential(secret_id or emu.secret_id, secret_key or emu.secret_key)
    return TioneClient(cred, REGION, profile(emu))


def serving(**options: Any) -> Iterator[TIAEmulator]:
    """Body of a fixture: an emulator started with ``options``, stopped after use."""
    from airflow_provider_tia.emulator import TIAEmulator

    with TIAEmulator(**options) as emu:
        yield emu


def common_error(
    emu: TIAEmulator, action: str, body: dict, service: str = "tione", version: str = VERSION
) -> str:
    """The error code of a call sent with the SDK's generic client (any service, version and body)."""
    from tencentcloud.common.common_client import CommonClient

    client = CommonClient(service, version, Credential(emu.secret_id, emu.secret_key), REGION, profile(emu))
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json(action, body)
    return str(info.value.code)


def req(action: str, **fields: Any) -> Any:
    """An SDK request model, e.g. ``req("DescribeTrainingTask", Id="train-1")``."""
    obj = getattr(models, f"{action}Request")()
    obj.from_json_string(json.dumps(fields))
    return obj


def call(emu: TIAEmulator, action: str, **fields: Any) -> dict:
    """Call an action with the official client; the reply as a dict."""
    reply = getattr(tione(emu), action)(req(action, **fields))
    return json.loads(reply.to_json_string())


def error_code(emu: TIAEmulator, action: str, **fields: Any) -> str:
    """The error code the action answers with (AssertionError when it succeeds)."""
    with pytest.raises(TencentCloudSDKException) as info:
        call(emu, action, **fields)
    return str(info.value.code)


def spec(**overrides: Any) -> dict:
    """A valid CreateTrainingTask request: one worker, a unique name."""
    base: dict[str, Any] = {
        "Name": f"task-{uuid.uuid4().hex[:8]}",
        "ChargeType": "POSTPAID_BY_HOUR",
        "ResourceConfigInfos": [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        "StartCmdInfo": {"StartCmd": "echo hello"},
    }
    return {**base, **overrides}


def create(emu: TIAEmulator, **overrides: Any) -> str:
    """Create a task from ``spec(**overrides)``; its Id."""
    return str(call(emu, "CreateTrainingTask", **spec(**overrides))["Id"])


def sim_tags(**conf: Any) -> list[dict]:
    """Tags setting the simulated runner's ``sim.*`` knobs, e.g. ``sim_tags(duration=30)``."""
    return [{"TagKey": f"sim.{k}", "TagValue": str(v)} for k, v in conf.items()]


def detail(emu: TIAEmulator, task_id: str) -> dict:
    """The task's TrainingTaskDetail."""
    return dict(call(emu, "DescribeTrainingTask", Id=task_id)["TrainingTaskDetail"])


def s3(moto_url: str) -> Any:
    """A boto3 S3 client for moto."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="AKIDtest",
        aws_secret_access_key="k",
    )


def bucket(moto_url: str) -> str:
    """A new empty bucket named like a COS bucket."""
    name = f"tione{uuid.uuid4().hex[:8]}-1250000000"
    s3(moto_url).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def put_code(moto_url: str, bucket_name: str, key: str, files: dict[str, str]) -> None:
    """Upload ``files`` ({relative path: text}) as a ``.tar.gz`` object at ``key``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3(moto_url).put_object(Bucket=bucket_name, Key=key, Body=buf.getvalue())


def cos(bucket_name: str, path: str) -> dict:
    """A CosPathInfo."""
    return {"Bucket": bucket_name, "Region": REGION, "Paths": [path]}


# ---- model repository and online services -------------------------------------------------------
MODEL_SERVICE = """\
import os
import tiinfer


class Scaler(tiinfer.Model):
    def load(self):
        with open(os.path.join(self.model_dir, "factor.txt")) as fh:
            self.factor = float(fh.read())
        return True

    def predict(self, request):
        return {"y": [x * self.factor for x in request["x"]], "factor": self.factor}
"""
BROKEN_MODEL_SERVICE = """\
import tiinfer


class Broken(tiinfer.Model):
    def load(self):
        raise RuntimeError("weights are corrupt")
"""


def put_files(moto_url: str, bucket_name: str, prefix: str, files: dict[str, str]) -> None:
    """Upload ``files`` ({relative path: text}) as separate objects under ``prefix``."""
    client = s3(moto_url)
    for path, text in files.items():
        client.put_object(Bucket=bucket_name, Key=prefix + path, Body=text.encode())


def model_files(factor: float = 2.0, broken: bool = False) -> dict[str, str]:
    """A model folder as a training task leaves it: ``model_service.py`` and its weights."""
    return {"model_service.py": BROKEN_MODEL_SERVICE if broken else MODEL_SERVICE, "factor.txt": str(factor)}


def import_request(source: dict, **overrides: Any) -> dict:
    """A valid CreateTrainingModel request for a new model from a COS folder."""
    base: dict[str, Any] = {
        "ImportMethod": "MODEL",
        "TrainingModelName": f"model-{uuid.uuid4().hex[:8]}",
        "ReasoningEnvironmentSource": "SYSTEM",
        "ReasoningEnvironment": "tione.tencentcloudcr.com/qcloud-ti-platform/tiinfer:py38",
        "TrainingModelSource": "COS",
        "TrainingModelCosPath": source,
        "ModelFormat": "PYTORCH",
        "ModelMoveMode": "COPY",
    }
    return {**base, **overrides}


def wait_version(emu: TIAEmulator, version_id: str, timeout: float = 30.0) -> dict:
    """The version's DTO once its import has ended (STATUS_SUCCESS or STATUS_FAILED)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        dto = call(emu, "DescribeTrainingModelVersion", TrainingModelVersionId=version_id)[
            "TrainingModelVersion"
        ]
        if dto["TrainingModelStatus"] != "STATUS_RUNNING" or time.monotonic() > deadline:
            return dict(dto)
        time.sleep(0.05)


def imported(
    emu: TIAEmulator, moto_url: str, factor: float = 2.0, broken: bool = False, **overrides: Any
) -> dict:
    """Upload a model folder, import it, wait for STATUS_SUCCESS; the Create reply (Id, TrainingModelVersionId)."""
    name = bucket(moto_url)
    put_files(moto_url, name, "out/train-1/", model_files(factor, broken))
    reply = call(emu, "CreateTrainingModel", **import_request(cos(name, "out/train-1/"), **overrides))
    dto = wait_version(emu, reply["TrainingModelVersionId"])
    assert dto["TrainingModelStatus"] == "STATUS_SUCCESS", dto
    return reply


def service_request(version: dict, **overrides: Any) -> dict:
    """A valid CreateModelService request for a new group serving ``version`` (a CreateTrainingModel reply)."""
    base: dict[str, Any] = {
        "ServiceGroupName": f"svc-{uuid.uuid4().hex[:8]}",
        "ChargeType": "POSTPAID_BY_HOUR",
        "InstanceType": "TI.S.MEDIUM.POST",
        "Replicas": 1,
        "AuthorizationEnable": True,
        "ModelInfo": {
            "ModelVersionId": version["TrainingModelVersionId"],
            "ModelId": version["Id"],
            "ModelType": "NORMAL",
        },
    }
    return {**base, **overrides}


def wait_service(emu: TIAEmulator, service_id: str, until: Any, timeout: float = 60.0) -> dict:
    """The Service once ``until(service)`` holds (AssertionError with the last one after ``timeout``)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        service = dict(call(emu, "DescribeModelService", ServiceId=service_id)["Service"])
        if until(service):
            return service
        assert time.monotonic() < deadline, (
            f"gave up waiting; last: {service['Status']} {service['ServiceInfo']['Status']}"
        )
        time.sleep(0.1)


def serves(version_id: str) -> Any:
    """``until`` for wait_service: Normal, serving ``version_id``, the roll over."""

    def check(service: dict) -> bool:
        info = service["ServiceInfo"]
        work = info["Status"] or {}
        return bool(
            service["Status"] == "Normal"
            and info["ModelInfo"]["ModelVersionId"] == version_id
            and work.get("UpdatedReplicas")
            == work.get("AvailableReplicas")
            == work.get("Replicas")
            == info["Replicas"]
        )

    return check


def predict(
    emu: TIAEmulator, group_id: str, body: Any, token: str | None = "auto", raw: bytes | None = None
) -> Any:
    """POST to the group's gateway URL from call info (with its token unless ``token`` is given); the httpx reply."""
    import httpx

    info = call(emu, "DescribeModelServiceCallInfo", ServiceGroupId=group_id)["ServiceCallInfoV2"]
    headers = {"Content-Type": "application/json"}
    value = info["AuthToken"] if token == "auto" else token
    if value:
        headers["Authorization"] = value
    url = f"{info['InternetEndpoint']}/{group_id}/v1/models/m:predict"
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(url, content=content, headers=headers, timeout=30)
