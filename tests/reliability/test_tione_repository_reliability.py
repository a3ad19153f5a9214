"""Reliability rows of model registration (RegisterModelVersionOperator on the simulated emulator): lost
CreateTrainingModel replies create no duplicate version, transient faults on every call cause no false
failure, bad input names its field with 0 calls, and an image password never reaches XCom, the task log,
the trigger's payload or an error."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_tia.compat import TaskDeferred
from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator
from tests.helpers import reliability as rel

CONN = "tione_repo_rel"
RUNS = 16
TRANSIENT = "*:InternalError=0.15,RequestLimitExceeded=0.1,http5xx=0.05,drop=0.05"
PASSWORD = "img-pw-5d1c0e"  # a secret: must be found nowhere


@pytest.fixture(scope="module")
def emu():
    with TIAEmulator(runner="simulated", sim_duration=0.2) as emulator:
        yield emulator


@pytest.fixture
def conn(emu, monkeypatch) -> str:
    emu.set_faults(None)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", rel.conn_json(emu, max_attempts=8, retry_backoff=0.01))
    return CONN


def task(n: int) -> dict:
    return {"Id": f"train-{uuid.uuid4().int % 10**18}", "Name": f"t{n}",
            "Output": {"Bucket": "out-1250000000", "Region": "ap-beijing", "Paths": ["runs/"]}}  # fmt: skip


def register(model_name: str, training_task: dict, messages: list[str] | None = None, **options):
    op = RegisterModelVersionOperator(
        task_id="register", tencentcloud_conn_id=CONN, training_task=training_task, model_name=model_name,
        poll_interval=0.1, timeout=60, tags={"sim.import_seconds": "0.2"}, **options,
    )  # fmt: skip
    if messages is not None:
        rel.capture(op, messages)
    ti = rel.FakeTI("rel_register", "register", run_id=f"run-{uuid.uuid4().hex[:8]}")
    return op, op.execute(rel.context_for(ti))


def first_model(name: str) -> str:
    return register(name, task(0))[1]["TrainingModelId"]


def test_lost_create_replies_make_no_duplicate_version(emu, conn, reliability_results) -> None:
    model_id = first_model(f"lost-{uuid.uuid4().hex[:6]}")
    tasks = [task(n) for n in range(RUNS)]
    emu.set_faults("CreateTrainingModel:drop_after=0.5", seed=3)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: register("x", t, model_id=model_id)[1], tasks))
    lost = emu.fault_counts[("CreateTrainingModel", "drop_after")]
    emu.set_faults(None)
    versions = TIONEHook(conn).describe_training_model_versions(model_id)
    by_task = [v.training_job_id for v in versions]
    reliability_results.record(
        "TI-ONE lost CreateTrainingModel replies (new versions)", RUNS, faults=lost,
        false_failures=sum(r["TrainingModelStatus"] != "STATUS_SUCCESS" for r in results),
        duplicates=len(by_task) - len(set(by_task)),
    )  # fmt: skip
    assert lost >= 3 and all(r["TrainingModelStatus"] == "STATUS_SUCCESS" for r in results)
    assert len(versions) == RUNS + 1 and len(set(by_task)) == len(by_task)  # 0 duplicates
    assert len({v.version_label for v in versions}) == RUNS + 1


@pytest.mark.parametrize("deferrable", [False, True])
def test_transient_faults_on_every_call_cause_no_false_failure(
    emu, conn, deferrable, reliability_results
) -> None:
    model_id = first_model(f"flaky-{uuid.uuid4().hex[:6]}")
    emu.set_faults(TRANSIENT, seed=11)
    outcomes = []
    try:
        for n in range(RUNS // 2):
            try:
                outcomes.append(register("x", task(n), model_id=model_id, deferrable=deferrable)[1])
            except TaskDeferred as deferred:  # the trigger's event, then the resumed task
                import asyncio

                event = asyncio.run(anext(deferred.trigger.run()))
                op = RegisterModelVersionOperator(
                    task_id="register", tencentcloud_conn_id=CONN, training_task=task(n), model_name="x"
                )
                outcomes.append(
                    op.execute_complete(rel.context_for(rel.FakeTI("d", "register")), event.payload)
                )
    finally:
        faults = sum(emu.fault_counts.values())
        emu.set_faults(None)
    reliability_results.record(
        f"TI-ONE register, transient faults on every call ({'deferred' if deferrable else 'polling'})",
        RUNS // 2, faults=faults,
        false_failures=RUNS // 2 - sum(o["TrainingModelStatus"] == "STATUS_SUCCESS" for o in outcomes),
    )  # fmt: skip
    assert faults >= 5 and [o["TrainingModelStatus"] for o in outcomes] == ["STATUS_SUCCESS"] * (RUNS // 2)


def test_bad_input_names_the_field_and_makes_no_call(emu, conn, reliability_results) -> None:
    emu.reset_counters()
    cases = [
        ({"model_name": "-bad"}, "model_name"),
        ({"training_task": {"Name": "no id"}}, "training_task"),
        ({"model_format": "PICKLE"}, "model_format"),
        ({"max_reserved_models": 0}, "max_reserved_models"),
        ({"reasoning_environment_source": "CUSTOM"}, "reasoning_image_info"),
        (
            {"training_model_cos_path": {"Bucket": "b", "Region": "r", "Paths": ["a", "b"]}},
            "training_model_cos_path",
        ),
    ]
    for changes, field in cases:
        values = {"model_name": "ok", "training_task": task(0), **changes}
        with pytest.raises(JobSpecError) as info:
            register(values.pop("model_name"), values.pop("training_task"), **values)
        assert info.value.parameter.startswith(field), (field, info.value)
    reliability_results.record("TI-ONE register, bad input (6 fields)", len(cases))
    assert sum(emu.calls.values()) == 0


def test_the_image_password_is_never_shown(emu, conn, reliability_results) -> None:
    image = {"ImageType": "CCR", "ImageUrl": "ccr.example/infer:1",
             "ImageSecret": {"Username": "u", "Password": PASSWORD}}  # fmt: skip
    messages: list[str] = []
    options = {"reasoning_environment_source": "CUSTOM", "reasoning_image_info": image}
    op, result = register(f"secret-{uuid.uuid4().hex[:6]}", task(1), messages, **options)
    assert PASSWORD not in json.dumps(result) and PASSWORD not in "\n".join(messages)
    op2 = RegisterModelVersionOperator(
        task_id="register", tencentcloud_conn_id=CONN, training_task=task(2), model_name="s",
        deferrable=True, tags={"sim.import_seconds": "2"}, **options,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        op2.execute(rel.context_for(rel.FakeTI("s", "register")))
    assert PASSWORD not in json.dumps(deferred.value.trigger.serialize()[1])
    with pytest.raises(Exception) as failed:
        register("-bad", task(3), **options)
    shown = [json.dumps(result), "\n".join(messages), json.dumps(deferred.value.trigger.serialize()[1])]
    reliability_results.record(
        "TI-ONE register, secrets (XCom, log, trigger payload, error)",
        3,
        leaked_secrets=sum(PASSWORD in text for text in [*shown, str(failed.value)]),
    )
    assert PASSWORD not in str(failed.value)


@pytest.fixture
def listing(emu):
    """Whether the emulator answers DescribeTrainingModels (off: ``InvalidAction``); on again after."""

    def switch(on: bool) -> None:
        emu.tione.repo_actions.list_models = on

    yield switch
    switch(True)


def models_named(conn: str, names: list[str]) -> list[int]:
    hook = TIONEHook(conn)
    return [len(hook.find_models_named(name) or []) for name in names]


def test_lost_first_import_replies_make_one_model_per_name(emu, conn, reliability_results) -> None:
    """With DescribeTrainingModels, a first import whose reply is lost is found by its name and training
    task, never sent again; an Airflow retry of the task (no XCom) reuses that model and version."""
    names, tasks = [f"first-{uuid.uuid4().hex[:6]}" for _ in range(RUNS)], [task(n) for n in range(RUNS)]
    emu.reset_counters()
    emu.set_faults("CreateTrainingModel:drop_after=0.5", seed=5)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n, t: register(n, t)[1], names, tasks))
    lost = emu.fault_counts[("CreateTrainingModel", "drop_after")]
    emu.set_faults(None)
    again = register(names[0], tasks[0])[1]  # the task retried, its XCom history unseen
    counts = models_named(conn, names)
    failed = sum(r["TrainingModelStatus"] != "STATUS_SUCCESS" for r in results)
    reliability_results.record(
        "TI-ONE lost first-import (new model) replies", RUNS + 1, faults=lost, false_failures=failed,
        duplicates=sum(counts) - RUNS,
    )  # fmt: skip
    assert lost >= 3 and failed == 0 and counts == [1] * RUNS
    assert again["TrainingModelVersionId"] == results[0]["TrainingModelVersionId"]
    assert emu.calls["CreateTrainingModel"] == RUNS  # never sent again


def test_without_model_listing_a_lost_first_import_reply_duplicates_the_model(emu, conn, listing) -> None:
    """Without DescribeTrainingModels (a service that dropped it) the provider behaves as before the
    lookup existed: each lost first-import reply makes one more model of the name (the retry cannot see
    the first), and an Airflow retry without XCom history makes another. Every registration still
    succeeds; passing ``model_id`` is the way to never duplicate a model there."""
    names, tasks = [f"unlisted-{uuid.uuid4().hex[:6]}" for _ in range(RUNS)], [task(n) for n in range(RUNS)]
    listing(False)
    emu.reset_counters()
    emu.set_faults("CreateTrainingModel:drop_after=0.5", seed=5)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n, t: register(n, t)[1], names, tasks))
    lost = emu.fault_counts[("CreateTrainingModel", "drop_after")]
    emu.set_faults(None)
    register(names[0], tasks[0])
    listing(True)
    assert lost >= 3 and all(r["TrainingModelStatus"] == "STATUS_SUCCESS" for r in results)
    counts = models_named(conn, names)
    assert sum(counts) == RUNS + lost + 1 == emu.calls["CreateTrainingModel"] and counts[0] >= 2
