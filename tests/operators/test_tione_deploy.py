"""DeployModelServiceOperator end to end: dag.test() against the emulator over real HTTP, with services that
really serve (tiinfer replicas of a model's ``model_service.py``): a first deployment, rolls in place and
blue/green, a broken version rolled back while the previous one keeps answering, bad input, a lost reply,
and secrets that never reach a log, XCom or a rendered field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_tia.models.tione.rollout import ROLLOUT_KEY
from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
from tests.emulator.helpers.tione import call, imported, predict
from tests.helpers.dag_runs import xcom

pytest.importorskip("tiinfer")
pytest.importorskip("mosec")

CONN = "tione_deploy"
ENV_SECRET = "env-deploy-SECRET-4f3e2d1c0b9a"
IMAGE_PASSWORD = "aW1hZ2UtZGVwbG95LXBhc3N3b3Jk"


@pytest.fixture
def emu(cos_emulator, moto_url, connect, airflow_db):
    connect(CONN, cos_emulator, extra={"retry_backoff": 0.01})
    cos_emulator.set_faults(None)
    yield cos_emulator
    cos_emulator.set_faults(None)


def version(emu, moto_url: str, factor: float = 2.0, model: dict | None = None, broken: bool = False) -> dict:
    """A model version as RegisterModelVersionOperator returns it (TrainingModelId, TrainingModelVersionId)."""
    extra: dict[str, Any] = {}
    if model is not None:
        extra = {
            "ImportMethod": "VERSION",
            "TrainingModelId": model["TrainingModelId"],
            "TrainingModelName": None,
        }
    reply = imported(emu, moto_url, factor, broken=broken, **extra)
    return {"TrainingModelId": reply["Id"], "TrainingModelVersionId": reply["TrainingModelVersionId"]}


DAG_FILE = (
    """\
import pendulum
from airflow_provider_tia.compat import DAG

from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator

IMAGE = {"ImageType": "CCR", "ImageUrl": "ccr.example.com/ml/serve:1",
         "ImageSecret": {"Username": "robot", "Password": "__PASSWORD__"}}
for dag_id, strategy, deferrable in (
    ("tione_test_deploy", "in_place", False),
    ("tione_test_deploy_bg", "blue_green", False),
    ("tione_test_deploy_deferred", "in_place", True),
):
    with DAG(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
             render_template_as_native_obj=True, params={"group": "g", "version": "mv", "replicas": 1}) as dag:
        DeployModelServiceOperator(
            task_id="deploy", tencentcloud_conn_id="__CONN__", service_group_name="{{ params.group }}",
            model_version="{{ params.version }}", strategy=strategy, deferrable=deferrable,
            charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST", replicas="{{ params.replicas }}",
            authorization_enable=True, env={"MODEL_SETTING": "__SECRET__"}, image_info=IMAGE, poll_interval=0.3, healthy_timeout=90,
            abnormal_grace=1,
        )
    globals()[dag_id] = dag
""".replace("__CONN__", CONN)
    .replace("__SECRET__", ENV_SECRET)
    .replace("__PASSWORD__", IMAGE_PASSWORD)
)
DAG_IDS = {
    "in_place": "tione_test_deploy",
    "blue_green": "tione_test_deploy_bg",
    "deferred": "tione_test_deploy_deferred",
}


@pytest.fixture(scope="module", autouse=True)
def dag_file():
    """The test DAGs, written into the test run's (temporary) DAGs folder: dag.test() needs a DAG file."""
    import os
    from pathlib import Path

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "tione_test_deploy.py"
    path.write_text(DAG_FILE)
    yield
    path.unlink(missing_ok=True)


@pytest.fixture
def deploy(dag_loader):
    def run(group: str, model_version: Any, strategy: str = "in_place", **params: Any):
        """Run the DAG of ``strategy`` deploying ``model_version`` to ``group``; the DagRun."""
        conf = {"group": group, "version": model_version, **params}
        return dag_loader(DAG_IDS[strategy]).test(run_conf=conf)

    return run


def rendered_of(run) -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return " ".join(str(row.rendered_fields) for row in rows)


def group_services(emu, group_id: str) -> list[dict]:
    return call(emu, "DescribeModelServiceGroup", ServiceGroupId=group_id)["ServiceGroup"]["Services"]


def factor(emu, group_id: str) -> float:
    reply = predict(emu, group_id, {"x": [1]})
    assert reply.status_code == 200, reply.text
    return float(reply.json()["factor"])


def token_of(emu, group_id: str) -> str:
    return str(
        call(emu, "DescribeModelServiceCallInfo", ServiceGroupId=group_id)["ServiceCallInfoV2"]["AuthToken"]
    )


@pytest.mark.parametrize("strategy", ["in_place", "blue_green"])
def test_deploy_rolls_and_a_broken_version_is_rolled_back(emu, moto_url, deploy, capfd, strategy) -> None:
    group = f"dep-{strategy[:2]}-{uuid.uuid4().hex[:6]}"
    v1 = version(emu, moto_url, 2.0)
    first = deploy(group, v1, strategy)
    out = capfd.readouterr().out
    assert first.state == "success", out[-3000:]
    served = xcom(first, "deploy")
    gid, sid1 = served["ServiceGroupId"], served["ServiceId"]
    assert served["ModelVersionId"] == v1["TrainingModelVersionId"] and factor(emu, gid) == 2.0

    v2 = version(emu, moto_url, 3.0, model=v1)
    second = deploy(group, v2, strategy)
    out = capfd.readouterr().out
    assert second.state == "success", out[-3000:]
    rolled = xcom(second, "deploy")
    assert rolled["ModelVersionId"] == v2["TrainingModelVersionId"]
    assert rolled["PreviousModelVersionId"] == v1["TrainingModelVersionId"]
    assert factor(emu, gid) == 3.0  # a prediction answers from v2
    services = group_services(emu, gid)
    if strategy == "in_place":
        assert rolled["ServiceId"] == sid1 and [s["ServiceId"] for s in services] == [sid1]
    else:  # a new version of the group took the traffic; the old one was stopped and deleted
        assert rolled["ServiceId"] != sid1 and [s["ServiceId"] for s in services] == [rolled["ServiceId"]]
    assert "MODEL_SETTING" in rendered_of(second)  # the rendered env is stored, its value masked
    for secret in (ENV_SECRET, IMAGE_PASSWORD, token_of(emu, gid)):
        assert secret not in out and secret not in str(rolled) and secret not in rendered_of(second)

    v3 = version(emu, moto_url, model=v1, broken=True)
    third = deploy(group, v3, strategy)
    out = capfd.readouterr().out
    assert third.state == "failed"
    assert "RolloutFailed" in out and f"rolled back: {v2['TrainingModelVersionId']} serves again" in out, out[
        -4000:
    ]
    assert "failed to load" in out and "weights are corrupt" in out  # the Warning events and the last lines
    assert factor(emu, gid) == 3.0  # the service still answers from v2
    services = group_services(emu, gid)
    assert [s["ServiceInfo"]["ModelInfo"]["ModelVersionId"] for s in services] == [
        v2["TrainingModelVersionId"]
    ]
    assert ENV_SECRET not in out and IMAGE_PASSWORD not in out


def test_bad_input_names_the_field_and_makes_no_call(emu, deploy, capfd) -> None:
    emu.reset_counters()
    run = deploy(f"dep-bad-{uuid.uuid4().hex[:6]}", "mv-v1-1", replicas="many")
    out = capfd.readouterr().out
    assert run.state == "failed" and "Invalid parameter replicas (Replicas)" in out, out[-2000:]
    assert sum(emu.calls.values()) == 0
    run = deploy(f"dep-bad-{uuid.uuid4().hex[:6]}", {"TrainingModelId": "m-1"})
    assert run.state == "failed" and "Invalid parameter model_version" in capfd.readouterr().out
    assert sum(emu.calls.values()) == 0


def test_a_lost_modify_reply_rolls_once(emu, moto_url, deploy, capfd) -> None:
    group = f"dep-lost-{uuid.uuid4().hex[:6]}"
    v1 = version(emu, moto_url, 2.0)
    assert deploy(group, v1).state == "success", capfd.readouterr().out[-3000:]
    v2 = version(emu, moto_url, 5.0, model=v1)
    emu.reset_counters()
    emu.set_faults("ModifyModelService:drop_after=1.0;CreateModelService:drop_after=1.0")
    run = deploy(group, v2)
    out = capfd.readouterr().out
    emu.set_faults(None)
    assert run.state == "success", out[-3000:]
    gid = xcom(run, "deploy")["ServiceGroupId"]
    assert len(group_services(emu, gid)) == 1 and factor(emu, gid) == 5.0
    assert (
        emu.calls["CreateModelService"] == 0 and emu.fault_counts[("ModifyModelService", "drop_after")] >= 1
    )


def test_a_retry_finds_the_rollout_an_earlier_try_recorded(emu, moto_url) -> None:
    """A worker that died after ModifyModelService: the next try finds the service rolling to the version
    and its record, watches it, and does not send the Modify again."""
    from tests.helpers.support import FakeTI
    from tests.helpers.task_state import TaskStateStore

    group = f"dep-retry-{uuid.uuid4().hex[:6]}"
    v1 = version(emu, moto_url, 2.0)
    store = TaskStateStore()
    ctx = {"ti": FakeTI("deploy"), "task_state_store": store}
    options = dict(tencentcloud_conn_id=CONN, service_group_name=group, charge_type="POSTPAID_BY_HOUR",
                   instance_type="TI.S.MEDIUM.POST", replicas=1, poll_interval=0.3, healthy_timeout=90)  # fmt: skip
    DeployModelServiceOperator(task_id="deploy", model_version=v1, **options).execute(ctx)
    v2 = version(emu, moto_url, 4.0, model=v1)
    op = DeployModelServiceOperator(task_id="deploy", model_version=v2, **options)
    op._store = store
    spec = op._spec(v2["TrainingModelVersionId"], v2["TrainingModelId"])
    op._start(spec, v2["TrainingModelVersionId"], None)  # the first try: Modify sent, then the worker dies
    emu.reset_counters()
    result = DeployModelServiceOperator(task_id="deploy", model_version=v2, **options).execute(ctx)
    assert result["ModelVersionId"] == v2["TrainingModelVersionId"] and emu.calls["ModifyModelService"] == 0
    assert store.data[ROLLOUT_KEY]["phase"] == "done" and factor(emu, result["ServiceGroupId"]) == 4.0


def test_deferred_rollout_serves_or_rolls_back_after_resuming(emu, moto_url, deploy, capfd, caplog) -> None:
    """The wait is ModelServiceTrigger's; the configuration read before travels in its payload (without
    secrets), so the resumed task rolls back a broken version with the secret read again from the service."""
    group = f"dep-def-{uuid.uuid4().hex[:6]}"
    v1 = version(emu, moto_url, 2.0)
    assert deploy(group, v1, "deferred").state == "success", capfd.readouterr().out[-3000:]
    v2 = version(emu, moto_url, 3.0, model=v1)
    run = deploy(group, v2, "deferred")
    out = capfd.readouterr().out
    # The trigger logged (stdout on Airflow 3.2+, logging records on 2.11 and 3.0).
    trigger_logged = "RolloutTrigger" in out or any(r.name.endswith("RolloutTrigger") for r in caplog.records)
    assert run.state == "success" and trigger_logged, out[-3000:]
    gid = xcom(run, "deploy")["ServiceGroupId"]
    assert factor(emu, gid) == 3.0
    broken = deploy(group, version(emu, moto_url, model=v1, broken=True), "deferred")
    out = capfd.readouterr().out
    assert broken.state == "failed" and "RolloutFailed" in out, out[-3000:]
    assert factor(emu, gid) == 3.0
    (service,) = group_services(emu, gid)
    env = {e["Name"]: e["Value"] for e in service["ServiceInfo"]["Env"]}
    assert env == {"MODEL_SETTING": ENV_SECRET}  # restored from the service, not the record's "***"
    assert ENV_SECRET not in out and IMAGE_PASSWORD not in out


def test_the_record_keeps_no_secret_and_a_rollback_reads_them_again() -> None:
    """The pure parts: the configuration copied from a reply, masked for the record, filled again."""
    from airflow_provider_tia.models.tione import rollout as ro

    raw = {
        "ServiceId": "ms-abc12345-1", "Status": "Normal", "ServiceDescription": "",
        "ServiceInfo": {
            "Replicas": 2, "InstanceType": "TI.S.MEDIUM.POST", "ModelInfo": {"ModelVersionId": "mv-v1-1"},
            "Env": [{"Name": "A", "Value": "alpha-secret-1"}, {"Name": "B", "Value": "beta-secret-2"}],
            "ImageInfo": {"ImageType": "CCR", "ImageUrl": "r/i:1", "ImageSecret": {"Password": "pw-secret-3"}},
            "Status": {"Replicas": 2}, "PodInfos": [], "Weight": 100, "LogConfig": None,
        },
    }  # fmt: skip
    config = ro.configuration(raw)
    assert set(config) == {"Replicas", "InstanceType", "ModelInfo", "Env", "ImageInfo"}
    record = ro.RolloutRecord("in_place", "g", "mv-v2-2", previous=ro.without_secrets(config))
    text = str(record.to_dict())
    assert not any(s in text for s in ("alpha-secret-1", "beta-secret-2", "pw-secret-3"))
    assert ro.RolloutRecord.from_dict(record.to_dict()) == record
    current = {
        "Env": [{"Name": "B", "Value": "beta-secret-2"}],
        "ImageInfo": {"ImageSecret": {"Password": "pw-secret-3"}},
    }
    filled, missing = ro.with_secrets(record.previous or {}, None, current)
    assert filled["Env"] == [{"Name": "A", "Value": ""}, {"Name": "B", "Value": "beta-secret-2"}]
    assert filled["ImageInfo"]["ImageSecret"]["Password"] == "pw-secret-3" and missing == ["Env[0].Value"]
    assert ro.with_secrets(record.previous or {}, config)[0] == config
    assert ro.model_version_of({"TrainingModelVersionId": "mv-v2-2", "TrainingModelId": "m-1"}) == (
        "mv-v2-2",
        "m-1",
    )
    with pytest.raises(ro.JobSpecError, match="model_version"):
        ro.model_version_of(None)
