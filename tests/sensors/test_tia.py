"""JobSensor end to end (dag.test against the emulator): success, failure, soft_fail, missing job, deferrable."""

from __future__ import annotations

from airflow_provider_tia.hooks.tia import TIAHook
from tests.helpers import airflow_compat
from tests.helpers.support import script_spec as _spec


def test_the_sensor_succeeds_fails_soft_fails_and_defers_as_the_job_ends(
    run_dag, tia_emulator, tia_connection, capfd, caplog
):
    hook = TIAHook(tia_connection)
    hook.create_job(_spec("n-ok", "--lines", "2", "--sleep", "0.5"))  # still running when the sensors start
    hook.create_job(_spec("n-later", "--lines", "40", "--sleep", "0.5"))  # outlives the other sensors (20 s)
    hook.create_job(_spec("n-bad", "--fail", "true"))
    tia_emulator.wait_for_state("n-bad", "ap-beijing", "Failed")
    message = tia_emulator.store.get("ap-beijing", "n-bad")["Message"]
    dag_run = run_dag("tia_test_sensor")
    output = capfd.readouterr().out
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {
        "ok": "success",
        "ok_deferred": "success",
        "bad": "failed",
        "bad_soft": "skipped",
        "missing": "failed",
    }
    results = {task_id: value for task_id, _, value in airflow_compat.xcoms(dag_run)}
    assert results["ok"]["State"] == "Succeeded" and results["ok"]["Name"] == "n-ok"
    assert results["ok_deferred"]["State"] == "Succeeded" and results["ok_deferred"]["Name"] == "n-later"
    assert "[DAG TEST] running trigger in line" in output + caplog.text  # ok_deferred really deferred
    assert f"TI-A job n-bad in ap-beijing failed: {message}" in output
    assert "TI-A job n-missing in ap-beijing does not exist" in output
