"""The TI-ONE model repository over HTTP with the official client: models and versions, the asynchronous
import from COS (moto) with its progress and failures, the errors that name the field, persistence."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from ..helpers.tione import (
    bucket,
    call,
    cos,
    create,
    error_code,
    import_request,
    model_files,
    put_files,
    req,
    serving,
    tione,
    wait_version,
)  # fmt: skip

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu


@pytest.fixture(scope="module")
def repo_emu(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    yield from serving(
        runner="local", state_dir=tmp_path_factory.mktemp("tione-models"), cos_endpoint=moto_url
    )


def _folder(moto_url: str, factor: float = 2.0) -> dict:
    name = bucket(moto_url)
    put_files(moto_url, name, "out/train-1/", model_files(factor))
    return cos(name, "out/train-1/")


def _error(emu: Emu, action: str, **fields: object) -> tuple[str, str]:
    with pytest.raises(TencentCloudSDKException) as info:
        call(emu, action, **fields)
    return str(info.value.code), str(info.value.message)


def test_first_import_creates_the_model_later_ones_add_versions(repo_emu: Emu, moto_url: str) -> None:
    first = call(repo_emu, "CreateTrainingModel", **import_request(_folder(moto_url)))
    assert first["Id"].startswith("m-") and first["Id"][2:].isdigit()
    assert first["TrainingModelVersionId"].startswith("mv-v1-")
    second = call(
        repo_emu, "CreateTrainingModel",
        **import_request(_folder(moto_url, 3.0), ImportMethod="VERSION", TrainingModelId=first["Id"],
                         TrainingModelName=None, TrainingJobId="train-42", TrainingModelIndex="acc=0.9"),
    )  # fmt: skip
    assert second["Id"] == first["Id"] and second["TrainingModelVersionId"].startswith("mv-v2-")
    for reply in (first, second):
        assert (
            wait_version(repo_emu, reply["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
        )
    versions = call(repo_emu, "DescribeTrainingModelVersions", TrainingModelId=first["Id"])[
        "TrainingModelVersions"
    ]
    assert [(v["TrainingModelVersion"], v["TrainingJobId"]) for v in versions] == [
        ("v1", ""),
        ("v2", "train-42"),
    ]
    assert versions[1]["TrainingModelIndex"] == "acc=0.9" and versions[1]["TrainingModelProgress"] == 100
    stored = repo_emu.tione.repo.files_dir(second["TrainingModelVersionId"])  # type: ignore[union-attr]
    assert (stored / "factor.txt").read_text() == "3.0" and (stored / "model_service.py").is_file()
    only = call(repo_emu, "DescribeTrainingModelVersions", TrainingModelId=first["Id"],
                Filters=[{"Name": "TrainingModelVersionId", "Values": [second["TrainingModelVersionId"]]}])  # fmt: skip
    assert [v["TrainingModelVersion"] for v in only["TrainingModelVersions"]] == ["v2"]


def test_import_progress_climbs_while_running(repo_emu: Emu, moto_url: str) -> None:
    name = bucket(moto_url)
    put_files(moto_url, name, "m/", {f"shard{i}.bin": "x" for i in range(4)})
    tags = [{"TagKey": "sim.import_seconds", "TagValue": "1.2"}]
    reply = call(repo_emu, "CreateTrainingModel", **import_request(cos(name, "m/"), Tags=tags))
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dto = call(
            repo_emu, "DescribeTrainingModelVersion", TrainingModelVersionId=reply["TrainingModelVersionId"]
        )
        v = dto["TrainingModelVersion"]
        seen.append((v["TrainingModelStatus"], v["TrainingModelProgress"]))
        if v["TrainingModelStatus"] != "STATUS_RUNNING":
            break
        time.sleep(0.05)
    assert seen[0][0] == "STATUS_RUNNING" and seen[-1] == ("STATUS_SUCCESS", 100)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)


def test_an_empty_or_missing_source_fails_the_import_with_the_reason(repo_emu: Emu, moto_url: str) -> None:
    name = bucket(moto_url)
    reply = call(repo_emu, "CreateTrainingModel", **import_request(cos(name, "nothing/here/")))
    dto = wait_version(repo_emu, reply["TrainingModelVersionId"])
    assert dto["TrainingModelStatus"] == "STATUS_FAILED"
    assert (
        f"{name}/nothing/here/" in dto["TrainingModelErrorMsg"]
        and "empty or missing" in dto["TrainingModelErrorMsg"]
    )


def test_a_job_source_imports_the_training_tasks_output_folder(repo_emu: Emu, moto_url: str) -> None:
    out = bucket(moto_url)
    task_id = create(repo_emu, Output=cos(out, "runs/"),
                     StartCmdInfo={"StartCmd": 'echo 5 > "$TIONE_OUTPUT_DIR/factor.txt"'})  # fmt: skip
    assert repo_emu.wait_for_task(task_id, timeout=60)["Status"] == "SUCCEED"
    request = import_request(_folder(moto_url), TrainingModelSource="JOB", TrainingJobId=task_id)
    del request["TrainingModelCosPath"]
    reply = call(repo_emu, "CreateTrainingModel", **request)
    dto = wait_version(repo_emu, reply["TrainingModelVersionId"])
    assert dto["TrainingModelStatus"] == "STATUS_SUCCESS"
    assert dto["TrainingModelCosPath"]["Paths"] == [f"runs/{task_id}/"] and dto["TrainingJobId"] == task_id
    stored = repo_emu.tione.repo.files_dir(reply["TrainingModelVersionId"])  # type: ignore[union-attr]
    assert (stored / "factor.txt").read_text().strip() == "5"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"TrainingModelName": None}, "InvalidParameterValue", "TrainingModelName"),
        ({"TrainingModelName": "-bad name"}, "InvalidParameterValue", "TrainingModelName"),
        ({"ImportMethod": "COPY"}, "InvalidParameterValue", "ImportMethod"),
        ({"ImportMethod": "VERSION", "TrainingModelId": "m-1"}, "ResourceNotFound", "TrainingModelId"),
        ({"ImportMethod": "VERSION"}, "InvalidParameterValue", "TrainingModelId"),
        ({"ReasoningEnvironmentSource": "CUSTOM"}, "InvalidParameterValue", "ReasoningImageInfo"),
        ({"TrainingModelVersion": "v 1"}, "InvalidParameterValue", "TrainingModelVersion"),
        ({"TrainingModelCosPath": {"Bucket": "", "Region": "ap-guangzhou", "Paths": ["a/"]}},
         "InvalidParameterValue", "TrainingModelCosPath.Bucket"),
        ({"ModelFormat": "PICKLE"}, "InvalidParameterValue", "ModelFormat"),
        ({"MaxReservedModels": 25}, "InvalidParameterValue", "MaxReservedModels"),
    ],
)  # fmt: skip
def test_bad_imports_are_refused_naming_the_field(
    repo_emu: Emu, overrides: dict, code: str, field: str
) -> None:
    request = {
        k: v for k, v in {**import_request(cos("b-1250000000", "a/")), **overrides}.items() if v is not None
    }
    got_code, message = _error(repo_emu, "CreateTrainingModel", **request)
    assert (got_code, f"`{field}`" in message) == (code, True), message


def test_missing_required_fields_and_duplicate_labels(repo_emu: Emu, moto_url: str) -> None:
    from tencentcloud.common.common_client import CommonClient

    from ..helpers.tia import profile

    client = CommonClient(
        "tione", "2021-11-11", tione(repo_emu).credential, "ap-guangzhou", profile(repo_emu)
    )
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json("CreateTrainingModel", {"ReasoningEnvironmentSource": "SYSTEM"})
    assert info.value.code == "MissingParameter" and "ImportMethod" in info.value.message
    first = call(
        repo_emu, "CreateTrainingModel", **import_request(_folder(moto_url), TrainingModelVersion="v7")
    )
    again = import_request(
        _folder(moto_url), ImportMethod="VERSION", TrainingModelId=first["Id"], TrainingModelVersion="v7"
    )
    code, message = _error(repo_emu, "CreateTrainingModel", **again)
    assert code == "InvalidParameterValue" and "`TrainingModelVersion`" in message
    third = call(repo_emu, "CreateTrainingModel", **{**again, "TrainingModelVersion": None})
    assert third["TrainingModelVersionId"].startswith("mv-v8-")


def test_deletes_and_not_found(repo_emu: Emu, moto_url: str) -> None:
    first = call(repo_emu, "CreateTrainingModel", **import_request(_folder(moto_url)))
    wait_version(repo_emu, first["TrainingModelVersionId"])
    stored = repo_emu.tione.repo.files_dir(first["TrainingModelVersionId"])  # type: ignore[union-attr]
    assert stored.is_dir()
    call(repo_emu, "DeleteTrainingModelVersion", TrainingModelVersionId=first["TrainingModelVersionId"])
    assert not stored.exists()
    assert error_code(repo_emu, "DescribeTrainingModelVersion", TrainingModelVersionId=first["TrainingModelVersionId"]) == "ResourceNotFound"  # fmt: skip
    assert (
        call(repo_emu, "DescribeTrainingModelVersions", TrainingModelId=first["Id"])["TrainingModelVersions"]
        == []
    )
    call(repo_emu, "DeleteTrainingModel", TrainingModelId=first["Id"], EnableDeleteCos=True)
    assert (
        error_code(repo_emu, "DescribeTrainingModelVersions", TrainingModelId=first["Id"])
        == "ResourceNotFound.NoModel"
    )
    assert (
        error_code(repo_emu, "DeleteTrainingModel", TrainingModelId=first["Id"]) == "ResourceNotFound.NoModel"
    )


def test_models_survive_a_restart(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("tione-models-restart")
    with _emu(state, moto_url) as emu:
        reply = call(emu, "CreateTrainingModel", **import_request(_folder(moto_url)))
        assert wait_version(emu, reply["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    with _emu(state, moto_url) as emu:
        dto = call(
            emu, "DescribeTrainingModelVersion", TrainingModelVersionId=reply["TrainingModelVersionId"]
        )
        assert dto["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS"
        assert tione(emu).DescribeTrainingModelVersions(req("DescribeTrainingModelVersions", TrainingModelId=reply["Id"])).TrainingModelVersions[0].TrainingModelVersion == "v1"  # fmt: skip


def _emu(state: object, moto_url: str) -> Emu:
    from airflow_provider_tia.emulator import TIAEmulator

    return TIAEmulator(runner="local", state_dir=state, cos_endpoint=moto_url)  # type: ignore[arg-type]
