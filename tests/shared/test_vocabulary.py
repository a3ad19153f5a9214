"""One vocabulary on both platforms: ``tencentcloud_conn_id`` everywhere, ``on_kill_action`` and
``on_timeout`` as ``EndAction`` values, and the earlier names accepted for one release with a warning."""

from __future__ import annotations

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.hooks.cos import COSHook
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.operators.tia import CreateJobOperator, DeleteJobOperator
from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator, StopTrainingTaskOperator
from airflow_provider_tia.sensors.tia import JobSensor
from airflow_provider_tia.sensors.tione import TrainingTaskSensor

TIA = {"name": "v-job", "cluster": "ap-beijing", "runtime_version": "tia-1.7.0"}
TIONE = {"name": "v-task"}
CLASSES = [
    (CreateJobOperator, TIA),
    (DeleteJobOperator, {"job_name": "j", "cluster": "c"}),
    (JobSensor, {"job_name": "j", "cluster": "c"}),
    (CreateTrainingTaskOperator, TIONE),
    (StopTrainingTaskOperator, {"training_task_id": "train-1"}),
    (TrainingTaskSensor, {"training_task_id": "train-1"}),
]


@pytest.mark.parametrize(("cls", "kwargs"), CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_every_task_class_takes_tencentcloud_conn_id(cls, kwargs):
    task = cls(task_id="t", tencentcloud_conn_id="my_conn", **kwargs)
    assert task.tencentcloud_conn_id == "my_conn"
    assert cls(task_id="t2", **kwargs).tencentcloud_conn_id == "tencentcloud_default"


@pytest.mark.parametrize("old", ["tia_conn_id", "conn_id"])
@pytest.mark.parametrize(("cls", "kwargs"), CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_earlier_connection_keywords_still_work_with_a_warning(cls, kwargs, old):
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"'{old}' is deprecated"):
        task = cls(task_id="t", **{old: "old_conn"}, **kwargs)
    assert task.tencentcloud_conn_id == "old_conn"


def test_two_different_connection_ids_are_refused():
    with (
        pytest.warns(AirflowProviderDeprecationWarning),
        pytest.raises(ValueError, match="give the connection id once"),
    ):
        CreateJobOperator(task_id="t", tencentcloud_conn_id="a", tia_conn_id="b", **TIA)


@pytest.mark.parametrize("hook_class", [TIAHook, TIONEHook, COSHook])
def test_hooks_take_the_same_keyword(hook_class):
    assert hook_class(tencentcloud_conn_id="c").tencentcloud_conn_id == "c"
    assert hook_class("positional").tencentcloud_conn_id == "positional"
    assert hook_class.conn_name_attr == "tencentcloud_conn_id"
    with pytest.warns(AirflowProviderDeprecationWarning, match="'tia_conn_id' is deprecated"):
        assert hook_class(tia_conn_id="old").tencentcloud_conn_id == "old"


def test_each_platform_defaults_its_end_actions_and_takes_them_as_text():
    tia, tione = CreateJobOperator(task_id="a", **TIA), CreateTrainingTaskOperator(task_id="b", **TIONE)
    assert (tia.on_kill_action, tia.on_timeout) == (EndAction.DELETE, EndAction.DELETE)
    assert (tione.on_kill_action, tione.on_timeout) == (EndAction.STOP, EndAction.STOP)
    leave = CreateTrainingTaskOperator(task_id="c", on_kill_action="leave", on_timeout="delete", **TIONE)
    assert (leave.on_kill_action, leave.on_timeout) == (EndAction.LEAVE, EndAction.DELETE)


@pytest.mark.parametrize("parameter", ["on_kill_action", "on_timeout"])
def test_an_action_the_platform_cannot_do_is_refused_naming_the_parameter(parameter):
    with pytest.raises(ValueError, match=rf"{parameter} must be one of \('delete', 'leave'\), got 'stop'"):
        CreateJobOperator(task_id="t", **{parameter: "stop"}, **TIA)  # TI-A has no stop


@pytest.mark.parametrize(("old", "action"), [(True, EndAction.DELETE), (False, EndAction.LEAVE)])
def test_delete_on_kill_still_works_with_a_warning(old, action):
    with pytest.warns(AirflowProviderDeprecationWarning, match="'delete_on_kill' is deprecated"):
        op = CreateJobOperator(task_id="t", delete_on_kill=old, **TIA)
    assert op.on_kill_action is action


def test_the_earlier_error_names_still_resolve_with_a_warning():
    from airflow_provider_tia import exceptions

    with pytest.warns(AirflowProviderDeprecationWarning, match="TIAError is deprecated"):
        assert exceptions.TIAError is exceptions.TencentCloudError
    with pytest.raises(AttributeError):
        exceptions.NoSuchError  # noqa: B018
