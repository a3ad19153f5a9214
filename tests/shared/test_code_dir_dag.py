"""`code_dir` end to end: example DAG -> COS (moto's S3 server) -> emulator job fetching the code."""

from __future__ import annotations

import pytest

from tests.helpers import airflow_compat
from tests.helpers.support import context

BUCKET = "tia-code-1250000000"


def test_code_dir_runs_from_cos_and_is_uploaded_once(
    dag_loader, cos_connection, cos_emulator, tmp_path, capfd
):
    from airflow_provider_tia.hooks.cos import COSHook

    cos = COSHook("tencentcloud_default")
    cos.client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
    dag = dag_loader("example_tia_code_dir")
    conf = {"model_dir": str(tmp_path / "model")}

    first = airflow_compat.dag_test(dag, run_conf=conf)
    out = capfd.readouterr().out
    assert first.state == "success", out[-3000:]
    objects = cos.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert len(objects) == 1 and objects[0]["Key"].startswith("tia-code/")
    assert "uploaded" in out and "not uploaded again" not in out
    assert "master-0 epoch 3/3" in out  # the job ran the code fetched from the bucket
    assert (tmp_path / "model" / "digits_sgd.pkl").exists()
    jobs = [j for j in cos_emulator.store.list("ap-beijing") if j["Name"].startswith("code-dir-")]
    assert len(jobs) == 1 and jobs[0]["PackageDir"][0].startswith(
        f"cos://{BUCKET}.cos.ap-beijing.myqcloud.com/"
    )

    second = airflow_compat.dag_test(
        dag, run_conf=conf, logical_date=None
    )  # a manual run: no logical date, no ds_nodash
    out = capfd.readouterr().out
    assert second.state == "success", out[-3000:]
    assert "already in COS, not uploaded again" in out
    assert cos.client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    assert len([j for j in cos_emulator.store.list("ap-beijing") if j["Name"].startswith("code-dir-")]) == 2


def test_bad_code_dir_is_refused_before_any_call(airflow_db, cos_connection, cos_emulator, tmp_path):
    from airflow_provider_tia.compat import AirflowFailException
    from airflow_provider_tia.exceptions import CodeDirError
    from airflow_provider_tia.operators.tia import CreateJobOperator

    cos_emulator.reset_counters()
    op = CreateJobOperator(
        task_id="t",
        name="bad-code",
        cluster="ap-beijing",
        runtime_version="r",
        code_dir=str(tmp_path / "missing"),
        code_bucket=BUCKET,
        command=["python"],
    )
    with pytest.raises(CodeDirError, match="code_dir") as caught:
        op.execute(context(None))
    assert isinstance(caught.value, AirflowFailException)
    assert sum(cos_emulator.calls.values()) == 0


def test_code_dir_without_bucket_names_code_bucket(cos_emulator, cos_connection, tmp_path):
    from airflow_provider_tia.exceptions import JobSpecError
    from airflow_provider_tia.operators.tia import CreateJobOperator

    (tmp_path / "train.py").write_text("print(1)\n")
    cos_emulator.reset_counters()
    op = CreateJobOperator(
        task_id="t",
        name="no-bucket",
        cluster="ap-beijing",
        runtime_version="r",
        code_dir=str(tmp_path),
        command=["python"],
    )
    with pytest.raises(JobSpecError, match="code_bucket"):
        op.execute(context(None))
    assert sum(cos_emulator.calls.values()) == 0
