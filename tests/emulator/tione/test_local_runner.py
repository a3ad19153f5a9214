"""The local runner on TI-ONE tasks: code from COS (moto), real processes per role, output back to COS
under ``<Output path><task Id>/``."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.models.tione.training_task import output_prefix

from ..helpers.tia import alive, wait_until
from ..helpers.tione import bucket, call, cos, create, detail, put_code, s3, serving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu

DDP_SCRIPT = """\
import json, os, pathlib, sys
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
data = pathlib.Path(os.environ["TIONE_DATA_DIR"], "numbers.txt").read_text().split()
mine = [int(x) for i, x in enumerate(data) if i % world == rank]
out = pathlib.Path(os.environ["TIONE_OUTPUT_DIR"], f"rank{rank}.json")
out.write_text(json.dumps({"rank": rank, "world": world, "sum": sum(mine), "lr": sys.argv[1],
                           "master": os.environ["MASTER_ADDR"] + ":" + os.environ["MASTER_PORT"]}))
print(f"rank {rank}/{world} done")
"""


@pytest.fixture(scope="module")
def cos_emu(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    """Local runners fetching from and uploading to moto."""
    yield from serving(
        runner="local", state_dir=tmp_path_factory.mktemp("tione-local"), cos_endpoint=moto_url
    )


def _logs(emu: Emu, iid: str) -> list[dict]:
    return list(call(emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, Limit=1000, Order="ASC")["Content"])


def test_two_replica_ddp_task_runs_for_real_and_uploads_its_output(cos_emu: Emu, moto_url: str) -> None:
    code, data, out = bucket(moto_url), bucket(moto_url), bucket(moto_url)
    put_code(moto_url, code, "staged/abc123/code.tar.gz", {"train.py": DDP_SCRIPT})
    s3(moto_url).put_object(Bucket=data, Key="in/numbers.txt", Body=b"1 2 3 4 5 6")
    task_id = create(
        cos_emu,
        TrainingMode="DDP",
        ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": 2}],
        CodePackagePath=cos(code, "staged/abc123/"),
        DataConfigs=[{"DataSourceType": "COS", "COSSource": cos(data, "in/")}],
        Output=cos(out, "run1/"),
        StartCmdInfo={"WorkerStartCmd": "python train.py $LR"},
        Envs=[{"Name": "LR", "Value": "0.1"}],
    )
    d = cos_emu.wait_for_task(task_id, timeout=60)
    assert d["Status"] == "SUCCEED", d["FailureReason"]
    results = {}
    for rank in (0, 1):
        body = s3(moto_url).get_object(Bucket=out, Key=f"run1/{task_id}/rank{rank}.json")["Body"].read()
        results[rank] = json.loads(body)
    assert results[0]["sum"] + results[1]["sum"] == 21 and results[0]["sum"] == 1 + 3 + 5
    assert {r["world"] for r in results.values()} == {2} and {r["lr"] for r in results.values()} == {"0.1"}
    assert results[0]["master"] == results[1]["master"] and results[0]["master"].startswith("127.0.0.1:")
    messages = {(x["PodName"], x["Message"]) for x in _logs(cos_emu, d["LatestInstanceId"])}
    assert (f"{d['LatestInstanceId']}-worker-1", "rank 1/2 done") in messages


def test_ps_worker_gets_tf_config_and_encoded_commands_win(cos_emu: Emu) -> None:
    cmd = "python -c \"import os; print(os.environ['TF_CONFIG'])\""
    encoded = base64.b64encode(
        json.dumps({"StartCmd": "", "PsStartCmd": cmd, "WorkerStartCmd": cmd}).encode()
    )
    task_id = create(
        cos_emu,
        TrainingMode="PS_WORKER",
        ResourceConfigInfos=[{"Role": "PS", "InstanceNum": 1}, {"Role": "WORKER", "InstanceNum": 2}],
        StartCmdInfo={"StartCmd": "exit 9"},
        EncodedStartCmdInfo={"StartCmdInfo": encoded.decode()},
    )
    d = cos_emu.wait_for_task(task_id, timeout=60)
    assert d["Status"] == "SUCCEED", d["FailureReason"]
    configs = {x["PodName"].rsplit("-", 2)[-2:][0] + x["PodName"][-1]: json.loads(x["Message"])
               for x in _logs(cos_emu, d["LatestInstanceId"]) if x["Message"].startswith("{")}  # fmt: skip
    assert set(configs) == {"ps0", "worker0", "worker1"}
    assert len(configs["ps0"]["cluster"]["worker"]) == 2 and len(configs["ps0"]["cluster"]["ps"]) == 1
    assert configs["worker1"]["task"] == {"type": "worker", "index": 1}


def test_failing_replica_fails_the_task(cos_emu: Emu) -> None:
    task_id = create(
        cos_emu,
        ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": 2}],
        StartCmdInfo={"StartCmd": 'if [ "$TIONE_ROLE_INDEX" = 1 ]; then exit 3; fi; sleep 30'},
    )
    d = cos_emu.wait_for_task(task_id, timeout=60)
    assert d["Status"] == "FAILED" and "worker-1 exited with code 3" in d["FailureReason"]


def test_missing_code_package_fails_with_a_reason(cos_emu: Emu, moto_url: str) -> None:
    task_id = create(cos_emu, CodePackagePath=cos(bucket(moto_url), "nothing/here/"))
    d = cos_emu.wait_for_task(task_id, timeout=60)
    assert d["Status"] == "FAILED" and "CodePackagePath" in d["FailureReason"]


def test_stop_kills_every_process(cos_emu: Emu, moto_url: str) -> None:
    out = bucket(moto_url)
    task_id = create(
        cos_emu,
        ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": 2}],
        Output=cos(out, "partial/"),
        StartCmdInfo={
            "StartCmd": 'echo x > "$TIONE_OUTPUT_DIR/mark$TIONE_ROLE_INDEX"; echo ready; sleep 300 & wait'
        },
    )
    iid = cos_emu.wait_for_task(task_id, "RUNNING", timeout=60)["LatestInstanceId"]
    wait_until(lambda: sum(x["Message"] == "ready" for x in _logs(cos_emu, iid)) == 2, timeout=30)
    pids = cos_emu.tione_runner.pids(iid)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    call(cos_emu, "StopTrainingTask", Id=task_id)
    d = cos_emu.wait_for_task(task_id, "STOPPED", timeout=60)
    assert d["FailureReason"] == "User Stop"
    wait_until(lambda: not any(alive(p) for p in pids), timeout=30)
    keys = {o["Key"] for o in s3(moto_url).list_objects_v2(Bucket=out).get("Contents", [])}
    assert {f"partial/{task_id}/mark0", f"partial/{task_id}/mark1"} <= keys
    assert detail(cos_emu, task_id)["ChargeStatus"] == "NOT_BILLING"


def test_replica_cap_is_enforced(cos_emu: Emu) -> None:
    from ..helpers.tione import error_code, spec

    body = spec(ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": 65}])
    assert error_code(cos_emu, "CreateTrainingTask", **body) == "InvalidParameterValue"


@pytest.mark.parametrize("path", ["runs/a", "runs/a/", ""])
def test_outputs_go_under_the_task_id_in_the_output_path(cos_emu: Emu, moto_url: str, path: str) -> None:
    """``<Paths[0]><task Id>/``, one ``/`` between them: where Tencent's own client looks for a task's
    model, and where the provider's ``output_prefix`` points; a second run writes to the same folder."""
    out = bucket(moto_url)
    task_id = create(
        cos_emu,
        Output=cos(out, path),
        StartCmdInfo={"StartCmd": 'echo "$TIONE_INSTANCE_ID" > "$TIONE_OUTPUT_DIR/run-$TIONE_INSTANCE_ID"'},
    )
    first = cos_emu.wait_for_task(task_id, timeout=60)
    assert first["Status"] == "SUCCEED", first["FailureReason"]
    call(cos_emu, "StartTrainingTask", Id=task_id)
    wait_until(lambda: detail(cos_emu, task_id)["LatestInstanceId"] != first["LatestInstanceId"], timeout=30)
    second = cos_emu.wait_for_task(task_id, timeout=60)
    assert second["Status"] == "SUCCEED", second["FailureReason"]
    prefix = f"{path.rstrip('/')}/{task_id}/" if path else f"{task_id}/"
    assert output_prefix(detail(cos_emu, task_id)) == prefix
    keys = {o["Key"] for o in s3(moto_url).list_objects_v2(Bucket=out).get("Contents", [])}
    assert keys == {f"{prefix}run-{d['LatestInstanceId']}" for d in (first, second)}
