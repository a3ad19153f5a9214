"""Every request field is an explicit keyword of its operator, so dynamic task mapping takes it by name.

Before the fix, CreateTrainingTaskOperator took most CreateTrainingTask fields through ``**kwargs``:
``.partial(...).expand(framework_name=[...])`` raised ``TypeError: unexpected keyword arguments`` when
the DAG was parsed. Here the signatures are held against the field tables, and a mapped DAG runs
against the emulator (simulated runner) with every mapped instance training on its own task or job.
"""

from __future__ import annotations

import inspect
from collections import Counter

import pytest

from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.models.tia.job_spec import SPEC_FIELDS
from airflow_provider_tia.models.tione.training_spec import TRAINING_SPEC_FIELDS
from airflow_provider_tia.operators.base import run_suffix, suffixed
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator
from tests.helpers import airflow_compat
from tests.helpers.support import HAS_STATE_STORE

TIONE_REQUIRED = {"name": "n"}
TIA_REQUIRED = {"name": "n", "cluster": "ap-beijing", "runtime_version": "tia-1.7.0"}
CASES = [
    pytest.param(CreateTrainingTaskOperator, TRAINING_SPEC_FIELDS, TIONE_REQUIRED, id="tione"),
    pytest.param(CreateJobOperator, SPEC_FIELDS, TIA_REQUIRED, id="tia"),
]


@pytest.mark.parametrize(("operator", "fields", "required"), CASES)
def test_every_request_field_is_a_keyword_only_parameter_and_one_template_field(
    operator, fields, required
) -> None:
    parameters = inspect.signature(operator.__init__).parameters
    missing = [f.attr for f in fields if f.attr not in parameters]
    assert not missing, f"{operator.__name__} takes these only through **kwargs: {missing}"
    for field in fields:
        assert parameters[field.attr].kind is inspect.Parameter.KEYWORD_ONLY, field.attr
    counts = Counter(operator.template_fields)
    assert {f.attr: counts[f.attr] for f in fields} == {f.attr: 1 for f in fields}
    # Airflow renders every entry of template_fields: a field listed twice is rendered twice.
    assert [name for name, n in counts.items() if n > 1] == []


@pytest.mark.parametrize(("operator", "fields", "required"), CASES)
def test_each_keyword_lands_on_its_attribute(operator, fields, required) -> None:
    values = {f.attr: f"value-of-{f.attr}" for f in fields}
    op = operator(task_id="t", **values)
    assert {attr: getattr(op, attr) for attr in values} == values


@pytest.mark.parametrize(("operator", "fields", "required"), CASES)
def test_partial_and_expand_take_every_field_by_name(operator, fields, required) -> None:
    from airflow_provider_tia.compat import DAG

    with DAG("keywords_mapping", schedule=None) as dag:
        for field in fields:
            fixed = {key: value for key, value in required.items() if key != field.attr}
            operator.partial(task_id=f"map_{field.attr}", **fixed).expand(**{field.attr: ["a", "b"]})
            given = {**required, field.attr: "a"}
            operator.partial(task_id=f"fixed_{field.attr}", **given).expand(max_wait=[10, 20])
    assert len(dag.task_dict) == 2 * len(fields)


def test_deploy_takes_every_create_model_service_field_but_the_rollouts_own_by_name() -> None:
    """DeployModelServiceOperator: one keyword per SERVICE_SPEC_FIELDS row (Resources as
    ``service_resources``) but those the rollout sets, each templated once, each mappable."""
    from airflow_provider_tia.compat import DAG
    from airflow_provider_tia.models.tione.service_spec import SERVICE_SPEC_FIELDS
    from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
    from airflow_provider_tia.operators.tione.service_keywords import MANAGED, ServiceKeywordsOperator

    keywords = [
        "service_resources" if f.attr == "resources" else f.attr
        for f in SERVICE_SPEC_FIELDS
        if f.attr not in (*MANAGED, "service_group_name")
    ]
    parameters = inspect.signature(ServiceKeywordsOperator.__init__).parameters
    assert [k for k in keywords if k not in parameters] == []
    assert {parameters[k].kind for k in keywords} == {inspect.Parameter.KEYWORD_ONLY}
    counts = Counter(DeployModelServiceOperator.template_fields)
    assert {k: counts[k] for k in keywords} == {k: 1 for k in keywords}
    required = {"service_group_name": "g", "model_version": "mv-1"}
    with DAG("deploy_keywords_mapping", schedule=None) as dag:
        for keyword in keywords:
            DeployModelServiceOperator.partial(task_id=f"map_{keyword}", **required).expand(
                **{keyword: ["a", "b"]}
            )
    assert len(dag.task_dict) == len(keywords)
    op = DeployModelServiceOperator(task_id="t", **required, **{k: f"value-of-{k}" for k in keywords})
    assert {k: getattr(op, k) for k in keywords} == {k: f"value-of-{k}" for k in keywords}


# ------------------------------------------------------------------------------- a mapped DAG run
@pytest.fixture
def emulator(simulated_emulator, connect, airflow_db):
    connect("tencentcloud_default", simulated_emulator)
    simulated_emulator.set_faults(None)
    return simulated_emulator


def _xcoms(run, task_id: str) -> dict[int, dict]:
    return {map_index: value for _, map_index, value in airflow_compat.xcoms(run, task_id=task_id)}


def test_mapped_instances_each_create_their_own_task_and_job(emulator, dag_loader, capfd) -> None:
    from airflow_provider_tia.hooks.tione import TIONEHook

    dag = dag_loader("pt_mapped")  # importing the file is the first check: expand() by keyword
    frameworks = ["PYTORCH", "TENSORFLOW", "SPARK"]
    args = [["train.py", "--shard", str(i)] for i in range(3)]
    emulator.reset_counters()
    run = dag.test()
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    tis = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert tis == {(t, i): "success" for t in ("tione", "tia") for i in range(3)}
    assert emulator.calls["CreateTrainingTask"] == 3 and emulator.calls["CreateJob"] == 3

    # TI-ONE: each map index's tag is the hash of (dag, task, run, MAP INDEX); each finds one task.
    hook = TIONEHook()
    tags = [run_suffix("pt_mapped", "tione", run.run_id, i, 32) for i in range(3)]
    assert len(set(tags)) == 3
    found = {i: hook.find_training_tasks(tags={"airflow-task-key": tag}) for i, tag in enumerate(tags)}
    assert {i: len(tasks) for i, tasks in found.items()} == {0: 1, 1: 1, 2: 1}, found
    tasks = {i: hook.describe_training_task(tasks[0].id) for i, tasks in found.items()}
    assert len({task.id for task in tasks.values()}) == 3
    for i, task in tasks.items():
        assert task.raw["FrameworkName"] == frameworks[i] and task.state_name == "SUCCEED"
        assert task.tags["airflow-task-key"] == tags[i]
    # One name per instance: the first to run takes the plain name, the others their own suffix.
    names = {i: task.name for i, task in tasks.items()}
    plain = [i for i, name in names.items() if name == "pt-mapped-task"]
    assert len(plain) == 1, names
    for i, name in names.items():
        assert i in plain or name == f"pt-mapped-task-{tags[i][:8]}", names
    xcoms = _xcoms(run, "tione")
    assert {i: xcom["Id"] for i, xcom in xcoms.items()} == {i: task.id for i, task in tasks.items()}

    # TI-A: three jobs, each with its own Args; names: one plain, the others suffixed per map index.
    jobs = _xcoms(run, "tia")
    assert sorted(jobs) == [0, 1, 2]
    assert len({job["Id"] for job in jobs.values()}) == 3
    assert len({job["Name"] for job in jobs.values()}) == 3
    for i, job in jobs.items():
        assert job["Args"] == args[i] and job["State"] == "Succeeded"
        assert job["Name"] in (
            "pt-mapped-job",
            suffixed("pt-mapped-job", run_suffix("pt_mapped", "tia", run.run_id, i), TIA_MAX_NAME),
        )
    # Below Airflow 3.3 (no task state store) every TI-A job name carries its instance's hash.
    assert sum(job["Name"] == "pt-mapped-job" for job in jobs.values()) == (1 if HAS_STATE_STORE else 0)
