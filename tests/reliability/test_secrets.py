"""Secrets: the SecretKey and the session token (temporary credentials) never reach task logs, trigger
logs, the SDK's DEBUG log, exceptions (text, repr, traceback, pickle), XCom, rendered template fields or
trigger payloads: on success, job failure, timeout and authentication failure, polling and deferred."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import AuthFailure, JobFailed, JobWaitTimeout
from airflow_provider_tia.operators.tia import CreateJobOperator
from tests.helpers.reliability import (
    CLUSTER,
    FakeTI,
    Outcome,
    Triggerer,
    context_for,
    drive,
    expected_states,
    outcome_texts,
    rebuild,
    run_like_triggerer,
    sim_conf,
)

SECRET_ID = "AKIDrelTemporary01"
SECRET_KEY = "sk-rel-SECRETKEY-9f8e7d6c5b4a39281706"
TOKEN = "tok-rel-SESSION-1a2b3c4d5e6f7a8b9c0d"
WRONG_KEY = "sk-rel-WRONGKEY-0a1b2c3d4e5f66778899"
WRONG_TOKEN = "tok-rel-WRONGTOKEN-ffeeddccbbaa998877"
SECRETS = (SECRET_KEY, TOKEN, WRONG_KEY, WRONG_TOKEN)


def leaks(texts: list[str]) -> int:
    return sum(text.count(secret) for text in texts for secret in SECRETS)


@pytest.fixture(scope="module")
def secret_emu():
    with TIAEmulator(runner="simulated", sim_duration=0.5) as emu:
        emu.add_credential(SECRET_ID, SECRET_KEY, TOKEN)
        yield emu


def _conn(emu: TIAEmulator, password: str, token: str) -> str:
    return json.dumps(
        {
            "conn_type": "tencentcloud",
            "login": SECRET_ID,
            "password": password,
            "extra": {
                "region": "ap-beijing",
                "endpoint": emu.endpoint,
                "scheme": "http",
                "token": token,
                "retry_backoff": 0.01,
                "max_attempts": 2,
            },
        }
    )


PATHS = {
    # name: (connection, deferrable, RuntimeConf, max_wait, expected error)
    "sec-ok": ("tia_rel_secret", False, sim_conf(0.8, lines=6), None, None),
    "sec-ok-d": ("tia_rel_secret", True, sim_conf(0.8, lines=6), None, None),
    "sec-failed": ("tia_rel_secret", False, sim_conf(0.5, "Failed", 6), None, JobFailed),
    "sec-failed-d": ("tia_rel_secret", True, sim_conf(0.5, "Failed", 6), None, JobFailed),
    "sec-timeout": ("tia_rel_secret", False, sim_conf(30, lines=3), 1, JobWaitTimeout),
    "sec-timeout-d": ("tia_rel_secret", True, sim_conf(30, lines=3), 1, JobWaitTimeout),
    "sec-badkey": ("tia_rel_badkey", False, sim_conf(0.5), None, AuthFailure),
    "sec-badtoken-d": ("tia_rel_badtoken", True, sim_conf(0.5), None, AuthFailure),
}


def test_secrets_never_leak(secret_emu, monkeypatch, capfd, caplog, sdk_records, reliability_results) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_SECRET", _conn(secret_emu, SECRET_KEY, TOKEN))
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_BADKEY", _conn(secret_emu, WRONG_KEY, TOKEN))
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_BADTOKEN", _conn(secret_emu, SECRET_KEY, WRONG_TOKEN))
    secret_emu.reset_counters()
    caplog.set_level(logging.DEBUG)  # root and the SDK's logger (tencentcloud_sdk_common) at DEBUG
    operators: list[CreateJobOperator] = []

    def make(name: str):
        conn, deferrable, conf, max_wait, _ = PATHS[name]

        def build() -> CreateJobOperator:
            op = CreateJobOperator(
                task_id=f"t_{name.replace('-', '_')}",
                name=name,
                cluster=CLUSTER,
                runtime_version="tia-1.7.0",
                command=["python"],
                args=["train.py", "--run", "{{ run_id }}"],
                runtime_conf=conf,
                tencentcloud_conn_id=conn,
                poll_interval=0.2,
                deferrable=deferrable,
                max_wait=max_wait,
            )
            operators.append(op)
            return op

        return build

    triggerer = Triggerer()
    try:
        with ThreadPoolExecutor(max_workers=len(PATHS)) as pool:
            futures = {
                name: pool.submit(drive, make(name), FakeTI("tia_rel_secret", name), triggerer, None, name)
                for name in PATHS
            }
            outcomes: dict[str, Outcome] = {name: f.result(timeout=60) for name, f in futures.items()}
        # A trigger reading with bad credentials (its error event is a payload too).
        from airflow_provider_tia.triggers.tia import JobTrigger

        bad_trigger = JobTrigger(
            {"name": "sec-ok", "cluster": CLUSTER},
            tencentcloud_conn_id="tia_rel_badkey",
            poll_interval=0.1,
            deadline=time.time() + 5,
        )
        bad_events = asyncio.run(run_like_triggerer(rebuild(bad_trigger)))
    finally:
        triggerer.close()

    haystack = outcome_texts(outcomes.values())
    haystack.append(json.dumps([bad_trigger.serialize(), bad_events], default=str))
    for op in operators:  # rendered template fields, as the UI shows them
        op.render_template_fields(
            {**context_for(FakeTI("tia_rel_secret", op.task_id)), "run_id": "manual__x"}
        )
        haystack.append(json.dumps({f: getattr(op, f) for f in op.template_fields}, default=str))
        haystack += [repr(op.hook), repr(op.hook.settings)]
    captured = capfd.readouterr()
    haystack += [captured.out, captured.err, caplog.text, *sdk_records.texts]
    leaked = leaks(haystack)

    states = {name: outcome.state for name, outcome in outcomes.items()}
    expected = expected_states({name: error for name, (*_, error) in PATHS.items()}, "Succeeded")
    false_failures = sum(states[n] != expected[n] for n in PATHS)
    reliability_results.record(
        "secrets: success, job failure, timeout, auth failure",
        len(PATHS) + 1,
        false_failures=false_failures,
        leaked_secrets=leaked,
    )
    assert states == expected
    assert leaked == 0
    # The checks saw what they had to see: the SDK's DEBUG log of requests (its token redacted), the
    # deferred paths' trigger payloads and the auth-failure event.
    assert any("X-TC-Token" in text for text in sdk_records.texts)
    assert sum("***" in text for text in sdk_records.texts) >= 1
    assert all(outcomes[n].deferred for n in ("sec-ok-d", "sec-failed-d", "sec-timeout-d"))
    assert all(
        outcomes[n].trigger_payload[1]["tencentcloud_conn_id"] == "tia_rel_secret"
        for n in ("sec-ok-d", "sec-failed-d", "sec-timeout-d")
    )
    assert (
        len(bad_events) == 1
        and bad_events[0]["status"] == "error"
        and "AuthFailure" in bad_events[0]["message"]
    )
    assert "TokenFailure" in str(outcomes["sec-badtoken-d"].error)
    assert leaks([f"x{TOKEN}x", SECRET_KEY]) == 2  # the detector itself works
