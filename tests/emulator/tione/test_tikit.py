"""Tencent's own TI client (PyPI ``tikit``) against the emulator: its training-task functions, called as a
user would (``Client(..., tione_endpoint=...)``), with tasks really run by the local runner and COS on moto.

Left out, as they need endpoints the client cannot point at loopback or actions the emulator does not
serve: its COS helpers (upload_to_cos and the like), describe_training_frameworks, the price and
resource-group look-ups, the training metrics calls and a custom image with a registry password (it first
fetches the platform's public key). Model import is checked only for the request it sends. ``save_log``
is checked on one page (up to 1000 lines): for the next page tikit passes the instance id as a task Id.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ..helpers.tione import REGION, bucket, put_code, s3

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu

tikit_client = pytest.importorskip("tikit.client")
from tikit import models as kit  # noqa: E402  (tikit is optional: after importorskip)
from tikit.tencentcloud.common.exception.tencent_cloud_sdk_exception import (  # noqa: E402
    TencentCloudSDKException,
)
from tikit.tencentcloud.tione.v20211111 import models  # noqa: E402

ENV = "torch1.9-py3.8-cuda11.1-gpu"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
TRAIN = """\
import os, pathlib
for i in range(5):
    print(f"{os.environ['TIONE_ROLE']}{os.environ['TIONE_ROLE_INDEX']} step {i}", flush=True)
pathlib.Path(os.environ["TIONE_OUTPUT_DIR"], f"model-{os.environ['RANK']}.txt").write_text("weights")
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing but loopback is reached: a connection or name look-up elsewhere is refused and fails the
    test (even where tikit turns the refusal into an exception the test expects)."""
    connect, lookup = socket.socket.connect, socket.getaddrinfo
    elsewhere: list[str] = []

    def refuse(what: str) -> None:
        elsewhere.append(what)
        raise OSError(f"tikit tried to reach {what}: the tests are offline")

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            refuse(str(address))
        connect(sock, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK and host is not None:
            refuse(str(host))
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    yield
    assert elsewhere == []


@pytest.fixture
def client(cos_emulator: Emu) -> Any:
    """tikit's Client aimed at the emulator.

    tikit always speaks https to ``tione_endpoint`` (a host), and the emulator serves plain http: the
    client's TI-ONE client is built again as tikit builds it, with the http scheme. (An endpoint written
    as ``http://host:port`` only worked by accident: some urllib3 releases sent the path ``//host:port/``,
    which no longer matched the signed ``/``.)
    """
    from tikit.kitlog import kitlog
    from tikit.tencentcloud.common import credential
    from tikit.tencentcloud.common.profile.client_profile import ClientProfile
    from tikit.tencentcloud.common.profile.http_profile import HttpProfile
    from tikit.tencentcloud.tione.v20211111 import tione_client

    kit_client = tikit_client.Client(
        cos_emulator.secret_id, cos_emulator.secret_key, REGION, tione_endpoint=cos_emulator.endpoint
    )
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=cos_emulator.endpoint))
    cred = credential.Credential(cos_emulator.secret_id, cos_emulator.secret_key)
    kit_client._tione_client = tione_client.TioneClient(cred, REGION, profile)
    kit_client._kit_log = kitlog.KitLog(kit_client._tione_client)
    return kit_client


@pytest.fixture
def buckets(moto_url: str) -> Iterator[dict[str, str]]:
    """A code package (``train.py``), a data folder and an output bucket on moto."""
    code, data, out = bucket(moto_url), bucket(moto_url), bucket(moto_url)
    put_code(moto_url, code, "pkg/code.tar.gz", {"train.py": TRAIN})
    s3(moto_url).put_object(Bucket=data, Key="in/numbers.txt", Body=b"1 2 3")
    yield {"code": code, "data": data, "out": out}


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tag(key: str, value: str) -> Any:
    t = models.Tag()
    t.TagKey, t.TagValue = key, value
    return t


def ddp_task(client: Any, buckets: dict[str, str], **options: Any) -> str:
    """A two-worker DDP task created the way tikit's docs show; its Id."""
    reply = client.create_training_task(
        name("kit-ddp"),
        kit.FrameworkInfo.new_system_framework("PYTORCH", ENV, "DDP"),
        cos_output=f"{buckets['out']}/models/",
        worker_resource=kit.ResourceConfigInfo.new_postpaid("TI.S.MEDIUM.POST", 2),
        code_package_path=f"{buckets['code']}/pkg/",
        input_data_config=kit.TrainingDataConfig.new_mount_cos(
            f"{buckets['data']}/in/", "/opt/ml/input/data"
        ),
        worker_start_cmd="python train.py",
        **options,
    )
    return str(reply.Id)


def keys(moto_url: str, name: str) -> set[str]:
    return {o["Key"] for o in s3(moto_url).list_objects_v2(Bucket=name).get("Contents", [])}


def test_create_runs_and_describe_reads_it_back(
    client: Any, cos_emulator: Emu, buckets: dict, moto_url: str
) -> None:
    task_id = ddp_task(
        client, buckets, tags=[tag("team", "ml")], tuning_parameters_dict={"lr": "0.1"}, remark="from tikit",
        restart_limit=3, enable_rdma=True,
    )  # fmt: skip
    end = cos_emulator.wait_for_task(task_id, timeout=60)
    assert end["Status"] == "SUCCEED", end["FailureReason"]
    d = client.describe_training_task(task_id).TrainingTaskDetail
    assert (d.Status, d.TrainingMode, d.FrameworkEnvironment) == ("SUCCEED", "DDP", ENV)
    assert d.Remark == "from tikit" and d.TuningParameters == '{"lr": "0.1"}'
    assert {(t.TagKey, t.TagValue) for t in d.Tags} >= {("team", "ml")}
    assert (d.StartCmdInfo.WorkerStartCmd, d.StartCmdInfo.PsStartCmd, d.StartCmdInfo.StartCmd) == (
        "python train.py", "", "",
    )  # fmt: skip
    assert d.ImageInfo.ImageType == "PRE_SET" and d.ImageInfo.ImageName == ENV
    assert d.Output.Paths == ["models/"] and d.ResourceConfigInfos[0].InstanceNum == 2
    assert keys(moto_url, buckets["out"]) == {
        f"models/{task_id}/model-0.txt",
        f"models/{task_id}/model-1.txt",
    }


def test_model_import_looks_where_the_outputs_are(
    client: Any, cos_emulator: Emu, buckets: dict, moto_url: str
) -> None:
    """tikit builds the model's source path from the task's Output and Id; the outputs are there. (The
    emulator serves no model actions: the request is read from its history.)"""
    task_id = ddp_task(client, buckets)
    assert cos_emulator.wait_for_task(task_id, timeout=60)["Status"] == "SUCCEED"
    with contextlib.suppress(TencentCloudSDKException):
        client.create_model_by_task(
            "digits", task_id, kit.ReasoningEnvironment.new_custom_environment("CCR", "ccr.example/infer:1"),
            f"{buckets['out']}/registry/", "PYTORCH", training_model_index="accuracy=0.9",
        )  # fmt: skip
    sent = next(
        params
        for action, params in reversed(list(cos_emulator.requests))  # a copy: other threads may add
        if action == "CreateTrainingModel" and params.get("TrainingJobId") == task_id
    )
    source = sent["TrainingModelCosPath"]
    assert source["Bucket"] == buckets["out"]
    assert {k.removeprefix(source["Paths"][0]) for k in keys(moto_url, buckets["out"])} == {
        "model-0.txt", "model-1.txt",
    }  # fmt: skip


def test_list_pods_and_their_tables(client: Any, cos_emulator: Emu, buckets: dict) -> None:
    task_id = ddp_task(client, buckets)
    cos_emulator.wait_for_task(task_id, timeout=60)
    listed = client.describe_training_tasks(filters=[{"Name": "Id", "Values": [task_id]}])
    assert listed.TotalCount == 1 and listed.TrainingTaskSet[0].ResourceGroupSWType == "NONE"
    table = repr(listed)  # tikit's table printer
    assert task_id in table and "PYTORCH:" + ENV in table and "从TIONE平台购买-按量计费" in table
    assert listed.TrainingTaskSet[0].Id in repr(client.describe_training_tasks())  # its defaults: 50, DESC
    pods = client.describe_training_task_pods(task_id)
    assert pods.TotalCount == 2 and all(p.startswith(task_id) for p in pods.PodNames)
    assert all(p in repr(pods) for p in pods.PodNames)


def test_logs_by_pod_name_page_and_save(
    client: Any, cos_emulator: Emu, buckets: dict, tmp_path: Path
) -> None:
    task_id = ddp_task(client, buckets)
    cos_emulator.wait_for_task(task_id, timeout=60)
    page = client.describe_train_logs(f"{task_id}*", limit=3, order="ASC")
    lines = [(x.PodName, x.Message) for x in page.Content]
    assert "step" in repr(page)  # tikit's log table
    while page.Context:
        page = page.next()
        lines += [(x.PodName, x.Message) for x in page.Content]
    assert page.next() is None
    assert sorted(m for _, m in lines) == sorted(f"WORKER{r} step {i}" for r in (0, 1) for i in range(5))
    pod = lines[0][0]
    one = client.describe_train_logs(pod, limit=100)
    assert {x.PodName for x in one.Content} == {pod} and len(one.Content) == 5
    client.save_log(str(tmp_path), service="TRAIN", id=task_id)
    saved = {p.name.split("-None")[0]: p.read_text() for p in (tmp_path / task_id).iterdir()}
    assert saved[pod].count(" step ") == 5 and {pod} < set(saved)


def test_stop_start_and_delete(client: Any, cos_emulator: Emu) -> None:
    reply = client.create_training_task(
        name("kit-long"),
        kit.FrameworkInfo.new_custom("DDP", "CCR", "ccr.ccs.tencentyun.com/team/train:1"),
        worker_resource=kit.ResourceConfigInfo.new_postpaid("TI.S.MEDIUM.POST"),
        worker_start_cmd="echo started; sleep 300",
    )
    task_id = reply.Id
    first = cos_emulator.wait_for_task(task_id, "RUNNING", timeout=60)["LatestInstanceId"]
    assert client.describe_training_task(task_id).TrainingTaskDetail.ImageInfo.ImageType == "CCR"
    client.stop_training_task(task_id)
    assert cos_emulator.wait_for_task(task_id, "STOPPED", timeout=60)["FailureReason"] == "User Stop"
    client.start_training_task(task_id)
    assert cos_emulator.wait_for_task(task_id, "RUNNING", timeout=60)["LatestInstanceId"] != first
    client.stop_training_task(task_id)
    cos_emulator.wait_for_task(task_id, "STOPPED", timeout=60)
    client.delete_training_task(task_id)
    with pytest.raises(TencentCloudSDKException) as info:
        client.describe_training_task(task_id)
    assert info.value.code == "ResourceNotFound"


def test_ps_worker_roles_run_their_own_commands(client: Any, cos_emulator: Emu) -> None:
    resource = kit.ResourceConfigInfo.new_postpaid("TI.S.MEDIUM.POST")
    reply = client.create_training_task(
        name("kit-ps"),
        kit.FrameworkInfo.new_system_framework("TENSORFLOW", "tf2.4-py3.8-cpu", "PS_WORKER"),
        worker_resource=resource, ps_resource=resource,
        worker_start_cmd="echo worker says hi", ps_start_cmd="echo ps says hi",
    )  # fmt: skip
    end = cos_emulator.wait_for_task(reply.Id, timeout=60)
    assert end["Status"] == "SUCCEED", end["FailureReason"]
    said = {
        (x.PodName.rsplit("-", 2)[-2], x.Message) for x in client.describe_train_logs(f"{reply.Id}*").Content
    }
    assert said == {("worker", "worker says hi"), ("ps", "ps says hi")}


def test_restart_limit_up_to_10_is_accepted(client: Any, buckets: dict) -> None:
    assert ddp_task(client, buckets, restart_limit=10).startswith("train-")
    with pytest.raises(TencentCloudSDKException, match="restart_limit"):
        ddp_task(client, buckets, restart_limit=11)  # refused by tikit itself, as the service would


@pytest.mark.parametrize(
    ("framework", "roles"),
    [
        (("SPARK", "spark2.4.5-cpu", "SPARK"), {"driver", "executor"}),  # tikit sends StartCmd
        (("RAY", "ray2.9-py3.10", "RAY"), {"head", "worker"}),  # tikit sends WorkerStartCmd only
    ],
)
def test_spark_and_ray_roles_all_run(client: Any, cos_emulator: Emu, framework: tuple, roles: set) -> None:
    resource = kit.ResourceConfigInfo.new_postpaid("TI.S.MEDIUM.POST")
    extra = {"head_resource": resource, "worker_resource_group": [resource]} if framework[0] == "RAY" else {}
    reply = client.create_training_task(
        name("kit-" + framework[0].lower()),
        kit.FrameworkInfo.new_system_framework(*framework),
        worker_resource=None if extra else resource,
        worker_start_cmd='echo "$TIONE_ROLE runs"',
        **extra,
    )
    end = cos_emulator.wait_for_task(reply.Id, timeout=60)
    assert end["Status"] == "SUCCEED", end["FailureReason"]
    said = {x.Message for x in client.describe_train_logs(f"{reply.Id}*").Content}
    assert said == {f"{role.upper()} runs" for role in roles}
