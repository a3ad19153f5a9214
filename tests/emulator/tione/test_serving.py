"""A Normal service really serves: tiinfer replicas of the model version's ``model_service.py`` behind the
gateway with token auth; a version that fails to load makes the service Abnormal while the previous one
keeps answering, and a rollback restores it; hostile requests get errors, never a crash or a hang."""

from __future__ import annotations

import concurrent.futures
import os
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from ..helpers.tione import call, imported, predict, serves, service_request, serving, wait_service

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu

pytest.importorskip("tiinfer")
pytest.importorskip("mosec")


@pytest.fixture(scope="module")
def srv_emu(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    yield from serving(
        runner="local", state_dir=tmp_path_factory.mktemp("tione-serving"), cos_endpoint=moto_url
    )


@pytest.fixture(scope="module")
def live(srv_emu: Emu, moto_url: str) -> dict:
    """A Normal service of factor 2.0 shared by the tests of this module: its Create reply and version."""
    version = imported(srv_emu, moto_url, 2.0)
    service = call(srv_emu, "CreateModelService", **service_request(version))["Service"]
    wait_service(srv_emu, service["ServiceId"], serves(version["TrainingModelVersionId"]))
    return {"service": service, "version": version}


def test_a_prediction_goes_through_the_gateway_with_the_token(srv_emu: Emu, live: dict) -> None:
    gid = live["service"]["ServiceGroupId"]
    reply = predict(srv_emu, gid, {"x": [1, 2.5]})
    assert reply.status_code == 200 and reply.json() == {"y": [2.0, 5.0], "factor": 2.0}
    token = call(srv_emu, "DescribeModelServiceCallInfo", ServiceGroupId=gid)["ServiceCallInfoV2"][
        "AuthToken"
    ]
    assert predict(srv_emu, gid, {"x": [1]}, token=f"Bearer {token}").status_code == 200
    for wrong in (None, "", "not-the-token", token + "x"):
        denied = predict(srv_emu, gid, {"x": [1]}, token=wrong)
        assert (
            denied.status_code == 401 and denied.json()["Error"]["Code"] == "FailedOperation.InvalidAuthToken"
        )


def test_the_replica_gets_no_secret_of_the_emulator(srv_emu: Emu, live: dict) -> None:
    pods = srv_emu.tione.serving.pods(live["service"]["ServiceId"])  # type: ignore[union-attr]
    assert pods and pods[0].proc is not None
    children = [pods[0].proc.pid, *_descendants(pods[0].proc.pid)]
    for pid in children:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read().decode(errors="replace")
        assert srv_emu.secret_key not in environ and srv_emu.secret_id not in environ
        assert "MOSEC_ADDRESS=127.0.0.1" in environ


def _descendants(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    parent = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if parent == pid:
                found += [int(entry), *_descendants(int(entry))]
    return found


def test_a_model_that_fails_to_load_makes_the_service_abnormal(srv_emu: Emu, moto_url: str) -> None:
    broken = imported(srv_emu, moto_url, broken=True)
    service = call(srv_emu, "CreateModelService", **service_request(broken))["Service"]
    sid = service["ServiceId"]
    abnormal = wait_service(srv_emu, sid, lambda s: s["Status"] == "Abnormal")
    assert "failed to load" in abnormal["ServiceInfo"]["Status"]["Reason"]
    assert abnormal["ServiceInfo"]["Status"]["AvailableReplicas"] == 0
    warnings = call(srv_emu, "DescribeEvents", Service="INFER", ServiceId=sid,
                    Filters=[{"Name": "Type", "Values": ["Warning"]}])["Events"]  # fmt: skip
    assert warnings and "failed to load" in warnings[0]["Message"]
    logs = call(srv_emu, "DescribeLogs", Service="INFER", ServiceId=sid, Limit=1000)["Content"]
    assert any("weights are corrupt" in line["Message"] for line in logs)
    assert predict(srv_emu, service["ServiceGroupId"], {"x": [1]}).status_code == 503
    call(srv_emu, "DeleteModelService", ServiceId=sid)  # an Abnormal version may be deleted


def test_a_broken_roll_keeps_the_old_version_answering_and_a_rollback_restores_it(
    srv_emu: Emu, moto_url: str
) -> None:
    good = imported(srv_emu, moto_url, 3.0)
    service = call(srv_emu, "CreateModelService", **service_request(good))["Service"]
    sid, gid = service["ServiceId"], service["ServiceGroupId"]
    before = wait_service(srv_emu, sid, serves(good["TrainingModelVersionId"]))
    broken = imported(
        srv_emu,
        moto_url,
        broken=True,
        ImportMethod="VERSION",
        TrainingModelId=good["Id"],
        TrainingModelName=None,
    )
    config = {
        k: before["ServiceInfo"][k] for k in ("ImageInfo", "InstanceType", "Replicas", "ScaleMode", "Env")
    }
    rolled = call(srv_emu, "ModifyModelService", ServiceId=sid, **config,
                  ModelInfo={"ModelVersionId": broken["TrainingModelVersionId"], "ModelId": good["Id"]})["Service"]  # fmt: skip
    assert (
        rolled["ServiceId"] == sid
        and rolled["ServiceInfo"]["ModelInfo"]["ModelVersionId"] == broken["TrainingModelVersionId"]
    )
    abnormal = wait_service(srv_emu, sid, lambda s: s["Status"] == "Abnormal")
    work = abnormal["ServiceInfo"]["Status"]
    assert work["AvailableReplicas"] == 1 and work["Replicas"] == 2 and work["UpdatedReplicas"] == 1
    assert predict(srv_emu, gid, {"x": [1]}).json()["factor"] == 3.0  # the old replica still answers
    call(srv_emu, "ModifyModelService", ServiceId=sid, **config, ModelInfo=before["ServiceInfo"]["ModelInfo"])
    back = wait_service(srv_emu, sid, serves(good["TrainingModelVersionId"]))
    assert back["ServiceInfo"]["Status"]["Replicas"] == 1
    assert predict(srv_emu, gid, {"x": [2]}).json() == {"y": [6.0], "factor": 3.0}


def test_modify_replaces_the_whole_configuration(srv_emu: Emu, moto_url: str) -> None:
    version = imported(srv_emu, moto_url, 4.0)
    service = call(
        srv_emu, "CreateModelService", **service_request(version, Env=[{"Name": "A", "Value": "1"}])
    )["Service"]
    sid = service["ServiceId"]
    wait_service(srv_emu, sid, serves(version["TrainingModelVersionId"]))
    call(srv_emu, "ModifyModelService", ServiceId=sid, InstanceType="TI.S.LARGE.POST",
         ModelInfo={"ModelVersionId": version["TrainingModelVersionId"]})  # fmt: skip
    after = wait_service(srv_emu, sid, serves(version["TrainingModelVersionId"]))
    assert after["ServiceInfo"]["Env"] == [] and after["ServiceInfo"]["InstanceType"] == "TI.S.LARGE.POST"


def test_hostile_requests_get_errors_and_the_service_keeps_answering(srv_emu: Emu, live: dict) -> None:
    gid = live["service"]["ServiceGroupId"]
    info = call(srv_emu, "DescribeModelServiceCallInfo", ServiceGroupId=gid)["ServiceCallInfoV2"]
    base, auth = info["InternetEndpoint"], {"Authorization": info["AuthToken"]}
    assert predict(srv_emu, gid, None, raw=b"\xff\x00{not json").status_code == 400
    assert predict(srv_emu, gid, {"x": "text"}).status_code == 500  # the model's own error
    assert predict(srv_emu, gid, [1, 2, 3]).status_code == 500
    big = httpx.post(
        f"{base}/{gid}/v1/models/m:predict",
        content=b"[" + b"1," * 6_000_000 + b"1]",
        headers=auth,
        timeout=30,
    )
    assert big.status_code == 413
    assert httpx.get(f"{base}/{gid}/v1/models/m:predict", headers=auth).status_code == 404
    assert httpx.post(f"{base}/{gid}/../../etc/passwd", headers=auth).status_code == 404
    assert httpx.post(f"{base}/ms-nothere0/v1/models/m:predict", content=b"{}").status_code == 404
    assert httpx.post(f"{base}/", content=b"{}").status_code == 404
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: predict(srv_emu, gid, {"x": [i]}).status_code, range(24)))
    assert codes == [200] * 24
    assert predict(srv_emu, gid, {"x": [1]}).json()["factor"] == 2.0


def test_console_pages_show_the_service_and_the_version_but_no_token(srv_emu: Emu, live: dict) -> None:
    gid, sid = live["service"]["ServiceGroupId"], live["service"]["ServiceId"]
    token = call(srv_emu, "DescribeModelServiceCallInfo", ServiceGroupId=gid)["ServiceCallInfoV2"][
        "AuthToken"
    ]
    page = httpx.get(f"{srv_emu.url}console/tione/task", params={"id": sid})
    assert (
        page.status_code == 200
        and "Normal" in page.text
        and live["version"]["TrainingModelVersionId"] in page.text
    )
    assert token not in page.text
    assert token not in httpx.get(f"{srv_emu.url}console/tione/task", params={"id": gid}).text
    version_page = httpx.get(
        f"{srv_emu.url}console/tione/task", params={"id": live["version"]["TrainingModelVersionId"]}
    )
    assert version_page.status_code == 200 and "STATUS_SUCCESS" in version_page.text
    assert httpx.get(f"{srv_emu.url}console/tione/task", params={"id": "ms-nothere0-1"}).status_code == 404
    assert httpx.get(f"{srv_emu.url}console/tione/task", params={"id": "mv-v1-1"}).status_code == 404


def test_services_serve_again_after_a_restart(
    moto_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from airflow_provider_tia.emulator import TIAEmulator

    state = tmp_path_factory.mktemp("tione-serving-restart")
    with TIAEmulator(runner="local", state_dir=state, cos_endpoint=moto_url) as emu:
        version = imported(emu, moto_url, 7.0)
        service = call(emu, "CreateModelService", **service_request(version))["Service"]
        sid, gid = service["ServiceId"], service["ServiceGroupId"]
        wait_service(emu, sid, serves(version["TrainingModelVersionId"]))
        token = call(emu, "DescribeModelServiceCallInfo", ServiceGroupId=gid)["ServiceCallInfoV2"][
            "AuthToken"
        ]
        old_pods = {p.name for p in emu.tione.serving.pods(sid)}  # type: ignore[union-attr]
    with TIAEmulator(runner="local", state_dir=state, cos_endpoint=moto_url) as emu:
        back = wait_service(emu, sid, serves(version["TrainingModelVersionId"]))
        assert {p["Name"] for p in back["ServiceInfo"]["PodInfos"]}.isdisjoint(old_pods)
        reply = predict(emu, gid, {"x": [1]}, token=token)
        assert reply.status_code == 200 and reply.json()["factor"] == 7.0


SLOW_MODEL_SERVICE = """\
import time
import tiinfer


class Slow(tiinfer.Model):
    def load(self):
        return True

    def predict(self, request):
        time.sleep(float(request.get("sleep", 0)))
        return {"slept": request.get("sleep", 0)}
"""


def test_a_hanging_model_gets_an_error_not_a_hang(srv_emu: Emu, moto_url: str) -> None:
    from ..helpers.tione import bucket, cos, import_request, put_files, wait_version

    name = bucket(moto_url)
    put_files(moto_url, name, "slow/", {"model_service.py": SLOW_MODEL_SERVICE})
    version = call(srv_emu, "CreateTrainingModel", **import_request(cos(name, "slow/")))
    assert wait_version(srv_emu, version["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    service = call(srv_emu, "CreateModelService", **service_request(version, AuthorizationEnable=False))[
        "Service"
    ]
    wait_service(srv_emu, service["ServiceId"], serves(version["TrainingModelVersionId"]))
    gid = service["ServiceGroupId"]
    assert predict(srv_emu, gid, {"sleep": 0}, token=None).json() == {"slept": 0}
    started = time.monotonic()
    slow = predict(srv_emu, gid, {"sleep": 30}, token=None)
    assert slow.status_code >= 400 and time.monotonic() - started < 20
    assert predict(srv_emu, gid, {"sleep": 0}, token=None).status_code == 200
