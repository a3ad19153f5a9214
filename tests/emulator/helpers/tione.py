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
