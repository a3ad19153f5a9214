"""Helpers for the emulator tests: official SDK clients pointed at an emulator, polling, processes."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import TYPE_CHECKING

from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tia.v20180226 import models
from tencentcloud.tia.v20180226.tia_client import TiaClient

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_tia.emulator.server import TIAEmulator

CLUSTER = "ap-beijing"


def profile(emu: TIAEmulator, method: str = "POST", sign: str = "TC3-HMAC-SHA256") -> ClientProfile:
    """Official SDK profile pointing at the emulator over plain HTTP."""
    http = HttpProfile(endpoint=emu.endpoint, protocol="http", reqMethod=method, reqTimeout=10)
    prof = ClientProfile(signMethod=sign, httpProfile=http)
    prof.disable_region_breaker = True
    return prof


def client(
    emu: TIAEmulator,
    method: str = "POST",
    sign: str = "TC3-HMAC-SHA256",
    secret_id: str | None = None,
    secret_key: str | None = None,
    token: str | None = None,
    cls: type = TiaClient,
) -> TiaClient:
    """An official TiaClient for the emulator (default credential unless given)."""
    cred = Credential(secret_id or emu.secret_id, secret_key or emu.secret_key, token)
    return cls(cred, CLUSTER, profile(emu, method, sign))


def common(emu: TIAEmulator, version: str = "2018-02-26", method: str = "POST") -> CommonClient:
    """The SDK's generic client, to send arbitrary actions and parameters."""
    return CommonClient(
        "tia", version, Credential(emu.secret_id, emu.secret_key), CLUSTER, profile(emu, method)
    )


def req(model: str, **fields: object) -> object:
    """Build an SDK request model, e.g. ``req("DescribeJob", Name="a", Cluster="b")``."""
    obj = getattr(models, f"{model}Request")()
    obj.from_json_string(json.dumps(fields))
    return obj


def unique(prefix: str = "job") -> str:
    """A job name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_script(directory: Path, body: str, name: str = "train.py") -> Path:
    """Write a training script into a package dir."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(body)
    return directory


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll until ``predicate()`` is truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
