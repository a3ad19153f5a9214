"""TI-ONE secrets: EnvVar values, the image registry password (ImageInfo.ImageSecret.Password) and the
connection's SecretKey never reach task logs, trigger logs, the SDK's DEBUG log, exceptions (text, repr,
traceback, pickle), XCom, rendered template fields (as Airflow stores them) or trigger payloads: on success,
task failure, timeout and authentication failure, polling and deferred."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.exceptions import AuthFailure, JobFailed, JobWaitTimeout
from airflow_provider_tia.triggers.tione.training import TrainingTaskTrigger
from tests.helpers import reliability as rel
from tests.helpers.reliability_tione import training_op

if TYPE_CHECKING:
    from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator

SECRET_ID = "AKIDrelTioneSecret01"
SECRET_KEY = "sk-tione-SECRETKEY-5a4b3c2d1e0f9a8b7c6d"
WRONG_KEY = "sk-tione-WRONGKEY-00112233445566778899"
ENV_SECRET = "env-tione-PASSWORD-77aa66bb55cc44dd33ee"
IMAGE_PASSWORD = "aW1hZ2UtcGFzc3dvcmQtdGlvbmUtOTg3NjU0"  # base64, as the contract says
SECRETS = (SECRET_KEY, WRONG_KEY, ENV_SECRET, IMAGE_PASSWORD)
IMAGE = {
    "ImageType": "CUSTOM",
    "ImageUrl": "registry.example.com/ml/train:1",
    "ImageSecret": {"Username": "robot", "Password": IMAGE_PASSWORD},
}

PATHS = {
    # name: (connection, deferrable, duration, outcome, max_wait, expected error)
    "sec-one-ok": ("tione_rel_secret", False, 0.6, "Succeeded", None, None),
    "sec-one-ok-d": ("tione_rel_secret", True, 0.6, "Succeeded", None, None),
    "sec-one-failed": ("tione_rel_secret", False, 0.4, "Failed", None, JobFailed),
    "sec-one-failed-d": ("tione_rel_secret", True, 0.4, "Failed", None, JobFailed),
    "sec-one-timeout-d": ("tione_rel_secret", True, 30, "Succeeded", 1, JobWaitTimeout),
    "sec-one-badkey": ("tione_rel_badkey", False, 0.4, "Succeeded", None, AuthFailure),
}
RUNS = len(PATHS) + 1  # the paths and a trigger reading with a bad key


def leaks(texts: list[str]) -> int:
    return sum(text.count(secret) for text in texts for secret in SECRETS)


def where(text: str) -> str:
    """What stands before the first secret in ``text`` (for the failure message)."""
    at = min(i for i in (text.find(secret) for secret in SECRETS) if i >= 0)
    return repr(text[max(0, at - 160) : at])


def _conn(emu, password: str) -> str:
    body = json.loads(rel.conn_json(emu, retry_backoff=0.01, max_attempts=2))
    body.update(login=SECRET_ID, password=password)
    return json.dumps(body)


@pytest.fixture(autouse=True)
def _no_faults(simulated_emulator):
    simulated_emulator.set_faults(None)


def rendered(op: CreateTrainingTaskOperator) -> str:
    """The task's rendered template fields as Airflow's task runner sends them to the API server."""
    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields

    op.render_template_fields({**rel.context_for(rel.FakeTI("tione_rel_secret", op.task_id)), "run_id": "r"})
    return json.dumps(_serialize_rendered_fields(op), default=str)


def test_tione_secrets_never_leak(
    simulated_emulator, monkeypatch, capfd, caplog, sdk_records, reliability_results
) -> None:
    simulated_emulator.add_credential(SECRET_ID, SECRET_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TIONE_REL_SECRET", _conn(simulated_emulator, SECRET_KEY))
    monkeypatch.setenv("AIRFLOW_CONN_TIONE_REL_BADKEY", _conn(simulated_emulator, WRONG_KEY))
    caplog.set_level(logging.DEBUG)
    operators: list[CreateTrainingTaskOperator] = []

    def make(name: str):
        conn, deferrable, duration, outcome, max_wait, _ = PATHS[name]

        def build() -> CreateTrainingTaskOperator:
            op = training_op(
                name,
                conn,
                duration,
                4,
                outcome,
                task_id=f"t_{name.replace('-', '_')}",
                envs={"API_TOKEN": ENV_SECRET, "RUN": "{{ run_id }}"},
                image_info=IMAGE,
                deferrable=deferrable,
                max_wait=max_wait,
            )
            operators.append(op)
            return op

        return build

    triggerer = rel.Triggerer()
    try:
        with ThreadPoolExecutor(max_workers=len(PATHS)) as pool:
            futures = {
                name: pool.submit(
                    rel.drive, make(name), rel.FakeTI("tione_rel_secret", name), triggerer, None, name
                )
                for name in PATHS
            }
            outcomes = {name: f.result(timeout=90) for name, f in futures.items()}
        # A trigger reading with a bad key (its error event is a payload too).
        ok_id = outcomes["sec-one-ok"].result["Id"]
        bad_trigger = TrainingTaskTrigger(
            {"name": "sec-one-ok", "id": ok_id},
            tencentcloud_conn_id="tione_rel_badkey",
            poll_interval=0.1,
            deadline=time.time() + 5,
        )
        bad_events = asyncio.run(rel.run_like_triggerer(rel.rebuild(bad_trigger)))
    finally:
        triggerer.close()

    haystack = rel.outcome_texts(outcomes.values())
    haystack.append(json.dumps([bad_trigger.serialize(), bad_events], default=str))
    for op in operators:
        haystack += [rendered(op), repr(op.hook), repr(op.hook.settings)]
    captured = capfd.readouterr()
    haystack += [captured.out, captured.err, caplog.text, *sdk_records.texts]
    expected = rel.expected_states({name: error for name, (*_, error) in PATHS.items()}, "SUCCEED")
    figures = {
        "false_failures": sum(outcomes[name].state != state for name, state in expected.items()),
        "leaked_secrets": leaks(haystack),
    }
    reliability_results.record(
        "TI-ONE secrets: success, task failure, timeout, auth failure", RUNS, **figures
    )
    assert {name: outcome.state for name, outcome in outcomes.items()} == expected
    assert figures["leaked_secrets"] == 0, [where(text) for text in haystack if leaks([text])]
    # The checks saw what they had to see: the secrets really travelled (the service got them), the SDK's
    # DEBUG log of requests, the deferred paths' trigger payloads and the auth-failure event.
    spec = simulated_emulator.tione.store.get(ok_id)["Spec"]
    assert {"Name": "API_TOKEN", "Value": ENV_SECRET} in spec["Envs"]
    assert spec["ImageInfo"]["ImageSecret"]["Password"] == IMAGE_PASSWORD
    assert any("CreateTrainingTask" in text for text in sdk_records.texts)
    assert all(outcomes[n].deferred for n in ("sec-one-ok-d", "sec-one-failed-d", "sec-one-timeout-d"))
    assert (
        len(bad_events) == 1
        and bad_events[0]["status"] == "error"
        and "AuthFailure" in bad_events[0]["message"]
    )
    assert leaks([f"x{ENV_SECRET}x", IMAGE_PASSWORD]) == 2  # the detector itself works
