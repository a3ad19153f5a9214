"""TI-ONE model repository as data: the CreateTrainingModel field table, the version reply, the import's
outcome and the next label. No network."""

from __future__ import annotations

import pytest
from tencentcloud.tione.v20211111 import models as sdk_models

from airflow_provider_tia.exceptions import JobSpecError, MalformedResponse
from airflow_provider_tia.models.tione.repository import (
    REPOSITORY_SPEC_FIELDS,
    ModelVersion,
    ModelVersionKey,
    SourceTask,
    TrainingModelSpec,
    import_outcome,
    next_version_label,
    version_of_task,
)

BASE = {"import_method": "MODEL", "reasoning_environment_source": "SYSTEM", "training_model_name": "resnet"}


def test_the_table_has_every_field_of_the_sdk_request() -> None:
    """Every field the installed SDK sends is a keyword (an older SDK, as on the floor, sends fewer)."""
    sdk = set(vars(sdk_models.CreateTrainingModelRequest()))
    assert sdk <= {"_" + f.api for f in REPOSITORY_SPEC_FIELDS}


def test_a_spec_converts_rendered_text_and_leaves_unset_fields_out() -> None:
    spec = TrainingModelSpec.from_kwargs(
        **BASE, max_reserved_models="3", is_qat="true", auto_clean=True, tags={"team": "ml"},
        training_model_index={"acc": 0.9},
    )  # fmt: skip
    request = spec.to_request()
    assert request["MaxReservedModels"] == 3 and request["IsQAT"] is True and request["AutoClean"] == "true"
    assert request["Tags"] == [{"TagKey": "team", "TagValue": "ml"}]
    assert request["TrainingModelIndex"] == '{"acc": 0.9}' and "TrainingModelId" not in request


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"import_method": "COPY"}, "import_method"),
        ({"training_model_name": None}, "training_model_name"),
        ({"training_model_name": "-bad name"}, "training_model_name"),
        ({"import_method": "VERSION"}, "training_model_id"),
        ({"import_method": "EXIST", "training_model_id": "m-1"}, "training_model_version"),
        ({"reasoning_environment_source": "CUSTOM"}, "reasoning_image_info"),
        ({"max_reserved_models": 25}, "max_reserved_models"),
        ({"model_clean_period": "x"}, "model_clean_period"),
        ({"training_model_version": "v 1"}, "training_model_version"),
        (
            {"training_model_cos_path": {"Bucket": "b", "Region": "r", "Paths": []}},
            "training_model_cos_path.Paths",
        ),
        ({"model_format": "PICKLE"}, "model_format"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(changes: dict, field: str) -> None:
    values = {**BASE, **changes}
    with pytest.raises(JobSpecError) as info:
        TrainingModelSpec.from_kwargs(**{k: v for k, v in values.items() if v is not None})
    assert info.value.parameter == field


def test_the_image_password_is_a_secret_and_masked_in_the_dict() -> None:
    from airflow_provider_tia.secrets import redact

    image = {
        "ImageType": "CCR",
        "ImageUrl": "ccr/x:1",
        "ImageSecret": {"Username": "u", "Password": "pw-9f3e2a"},
    }
    TrainingModelSpec.from_kwargs(
        **{**BASE, "reasoning_environment_source": "CUSTOM", "reasoning_image_info": image}
    )
    assert "pw-9f3e2a" not in redact("password pw-9f3e2a")
    version = ModelVersion.from_api({"TrainingModelVersionId": "mv-v1-1", "ReasoningImageInfo": image})
    assert "pw-9f3e2a" not in str(version.to_dict())


@pytest.mark.parametrize(
    ("status", "progress", "outcome"),
    [
        ("STATUS_RUNNING", 40, "STATUS_RUNNING"),
        ("STATUS_SUCCESS", 100, "STATUS_SUCCESS"),
        ("STATUS_FAILED", 10, "STATUS_FAILED"),
        (None, 100, "STATUS_SUCCESS"),
        ("", 50, "STATUS_UNKNOWN"),
        ("STATUS_NEW", 0, "STATUS_NEW"),
    ],
)
def test_the_import_outcome_is_decided_once(status, progress, outcome) -> None:
    assert import_outcome(status, progress) == outcome


def test_a_version_reads_its_reply() -> None:
    version = ModelVersion.from_api(
        {"TrainingModelId": "m-1", "TrainingModelName": "resnet", "TrainingModelVersionId": "mv-v2-9",
         "TrainingModelVersion": "v2", "TrainingModelStatus": "STATUS_FAILED", "TrainingModelErrorMsg": "unknown error",
         "TrainingJobId": "train-7", "CreateTime": "2025-06-01T02:30:00Z", "TrainingModelProgress": 30}
    )  # fmt: skip
    assert version.failed and version.is_terminal and version.message == "unknown error"
    assert (
        version.label == "TI-ONE model resnet version v2 (mv-v2-9)" and version.training_job_id == "train-7"
    )
    assert version.to_dict()["CreateTime"] == "2025-06-01T02:30:00Z" and version.progress == 30
    with pytest.raises(MalformedResponse):
        ModelVersion.from_api({"TrainingModelVersion": "v1"})


def test_next_label_and_the_version_of_a_task() -> None:
    assert next_version_label([]) == "v1"
    assert next_version_label(["v1", "v10", "best", None, "v2b"]) == "v11"
    dto = {"TrainingModelId": "m-1", "TrainingJobId": "train-7"}
    failed = ModelVersion.from_api(
        {**dto, "TrainingModelVersionId": "mv-v1-1", "TrainingModelStatus": "STATUS_FAILED"}
    )
    good = ModelVersion.from_api(
        {**dto, "TrainingModelVersionId": "mv-v2-1", "TrainingModelStatus": "STATUS_RUNNING"}
    )
    assert version_of_task([failed, good], "train-7") is good
    assert version_of_task([failed], "train-7") is failed and version_of_task([good], "train-8") is None


def test_a_source_task_is_an_id_or_the_training_operators_dict() -> None:
    assert SourceTask.of("train-1").model_folder() is None
    task = SourceTask.of({"Id": "train-1", "Name": "n", "FrameworkName": "PYTORCH",
                          "Output": {"Bucket": "b-125", "Region": "ap-beijing", "Paths": ["out/run/"]}})  # fmt: skip
    assert task.model_folder() == {"Bucket": "b-125", "Region": "ap-beijing", "Paths": ["out/run/train-1/"]}
    for bad in (None, "", {"Name": "x"}, 3):
        with pytest.raises(JobSpecError, match="training_task"):
            SourceTask.of(bad)


def test_the_key_round_trips_as_json() -> None:
    key = ModelVersionKey(
        name="resnet", model_id="m-1", version_id="mv-v1-2", version_label="v1", task="train-1"
    )
    assert ModelVersionKey.from_json(key.to_json()) == key
    assert key.label == "TI-ONE model resnet version v1 (mv-v1-2)"
