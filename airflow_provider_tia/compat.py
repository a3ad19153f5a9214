"""The one place that knows which Airflow runs us: 2.11 and every 3.x (the pattern of common.compat).

Every Airflow name the provider uses is imported from here. A name resolves on first use (no import
cost at DAG parse beyond what is used) from the first module that has it, newest first: Airflow 3.2+
keeps them in ``airflow.sdk``, 3.0/3.1 in part, 2.11 in ``airflow.models``/``airflow.hooks``/...
What an older Airflow lacks entirely has a stand-in here (``ResumableJobMixin``) or a flag saying so
(``trigger_has_on_kill()``), and the rest of the code asks these, never a version number.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy sees the newest Airflow's names
    from collections.abc import Callable

    from airflow.sdk import (
        DAG as DAG,
    )
    from airflow.sdk import (
        BaseHook as BaseHook,
    )
    from airflow.sdk import (
        BaseOperator as BaseOperator,
    )
    from airflow.sdk import (
        BaseOperatorLink as BaseOperatorLink,
    )
    from airflow.sdk import (
        BaseSensorOperator as BaseSensorOperator,
    )
    from airflow.sdk import (
        Connection as Connection,
    )
    from airflow.sdk import (
        Context as Context,
    )
    from airflow.sdk import (
        Param as Param,
    )
    from airflow.sdk import (
        PokeReturnValue as PokeReturnValue,
    )
    from airflow.sdk import (
        ResumableJobMixin as ResumableJobMixin,
    )
    from airflow.sdk import (
        chain as chain,
    )
    from airflow.sdk import (
        conf as conf,
    )
    from airflow.sdk import (
        task as task,
    )
    from airflow.sdk.exceptions import (
        AirflowException as AirflowException,
    )
    from airflow.sdk.exceptions import (
        AirflowFailException as AirflowFailException,
    )
    from airflow.sdk.exceptions import (
        AirflowSensorTimeout as AirflowSensorTimeout,
    )
    from airflow.sdk.exceptions import (
        TaskDeferred as TaskDeferred,
    )
    from airflow.sdk.execution_time.xcom import XCom as XCom
    from airflow.sdk.log import mask_secret as mask_secret
    from airflow.sdk.types import TaskInstanceKey as TaskInstanceKey

# name -> modules that may hold it, newest Airflow first.
_WHERE: dict[str, tuple[str, ...]] = {
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),  # 3.0: only airflow.hooks.base
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "BaseOperatorLink": ("airflow.sdk",),  # below 3.0: _operator_link()
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    "PokeReturnValue": ("airflow.sdk", "airflow.sensors.base"),
    "Connection": ("airflow.sdk", "airflow.models.connection"),
    "Context": ("airflow.sdk", "airflow.utils.context"),
    "DAG": ("airflow.sdk", "airflow.models.dag"),
    "task": ("airflow.sdk", "airflow.decorators"),
    "Param": ("airflow.sdk", "airflow.models.param"),
    "chain": ("airflow.sdk", "airflow.models.baseoperator"),
    "conf": ("airflow.sdk", "airflow.configuration"),  # airflow.sdk.conf: 3.2+
    # airflow.sdk.exceptions holds all four from 3.2 (3.1: AirflowException only).
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "mask_secret": ("airflow.sdk.log", "airflow.utils.log.secrets_masker"),
    "XCom": ("airflow.sdk.execution_time.xcom", "airflow.models.xcom"),
    "TaskInstanceKey": ("airflow.sdk.types", "airflow.models.taskinstancekey"),
    "ResumableJobMixin": ("airflow.sdk",),  # 3.3+ (the task state store); below, _ResumableJob
}


class _ResumableJob:
    """``ResumableJobMixin`` without a task state store (Airflow < 3.3): submit on every try (the
    operator's ``submit_job`` reattaches by name or tag, ``lifecycle.decide``), wait, report.

    (common-compat's own stand-in needs Python >= 3.11 and a release newer than Airflow 3.2.)"""

    external_id_key = "remote_job_id"

    def execute_resumable(self, context: Any) -> Any:
        external_id = self.submit_job(context)  # type: ignore[attr-defined]
        self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
        return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


def _operator_link() -> type:
    """Airflow 2's ``BaseOperatorLink`` with Airflow 3's ``xcom_key`` (where a link's URL is kept)."""
    from airflow.models.baseoperatorlink import BaseOperatorLink

    class OperatorLink(BaseOperatorLink):
        @property
        def xcom_key(self) -> str:
            return f"_link_{type(self).__name__}"

    return OperatorLink


_STAND_INS: dict[str, Callable[[], Any]] = {
    "ResumableJobMixin": lambda: _ResumableJob,
    "BaseOperatorLink": _operator_link,
}


def __getattr__(name: str) -> Any:
    modules = _WHERE.get(name)
    if modules is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value  # resolved once
            return value
    if name in _STAND_INS:
        value = globals()[name] = _STAND_INS[name]()
        return value
    raise ImportError(f"{name} is in none of {', '.join(modules)}: an unsupported Airflow version")


def trigger_has_on_kill() -> bool:
    """Airflow 3.3+ calls ``BaseTrigger.on_kill()`` on a user's action; older ones only cancel ``run()``."""
    from airflow.triggers.base import BaseTrigger

    return "on_kill" in BaseTrigger.__dict__


def task_instance_state(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str | None:
    """A task instance's state as a triggerer reads it: ``""`` when it has none (cleared), None when
    it is not found. Blocking.

    Airflow 3 reads it through the Task Execution API; 2.11's triggerer through the metadata DB.
    """
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:  # Airflow 2
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = (
                session.query(TaskInstance.state)
                .filter_by(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
                .all()
            )
        return None if not rows else _state_text(rows[0][0])
    states = RuntimeTaskInstance.get_task_states(
        dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
    )
    # The API names a mapped instance "<task_id>_<map_index>"; a cleared one has no state (None).
    name = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"
    of_run = states.get(run_id, {})
    return _state_text(of_run[name]) if name in of_run else None


def _state_text(state: Any) -> str:
    return "" if state is None else str(getattr(state, "value", state))


# ------------------------------------------------------------------- the connection form below 3.2
def _connection_type() -> dict[str, Any]:
    from airflow_provider_tia import get_provider_info

    return get_provider_info()["connection-types"][0]


def connection_form_widgets() -> dict[str, Any]:
    """``conn-fields`` as the WTForms fields Airflow < 3.2 asks ``get_connection_form_widgets`` for
    (2.11's Flask form; 3.0/3.1's API server imports them under mocks of these packages)."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import PasswordField, StringField

    widgets = {}
    for name, field in _connection_type()["conn-fields"].items():
        secret = field.get("schema", {}).get("format") == "password"
        kind, widget = (
            (PasswordField, BS3PasswordFieldWidget) if secret else (StringField, BS3TextFieldWidget)
        )
        widgets[name] = kind(lazy_gettext(field["label"]), widget=widget(), description=field["description"])
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` as Airflow < 3.2 asks ``get_ui_field_behaviour`` for; an extra field's
    first schema example is its placeholder (3.2+ shows the examples as suggestions)."""
    connection = _connection_type()
    behaviour = connection["ui-field-behaviour"]
    placeholders = dict(behaviour["placeholders"])
    for name, field in connection["conn-fields"].items():
        examples = field.get("schema", {}).get("examples")
        if examples:
            placeholders[name] = examples[0]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": placeholders,
    }


# --------------------------------------------------------------------- XCom from a trigger's loop
async def xcom_get(key: str, **address: Any) -> Any:
    """An XCom of a task instance (``dag_id``, ``task_id``, ``run_id``, ``map_index``), from a trigger.

    Airflow 3.2+ reads it asynchronously; older ones synchronously (the execution API, or 2.11's
    metadata DB), in a thread so the triggerer's event loop is never blocked.
    """
    xcom = __getattr__("XCom")
    if hasattr(xcom, "aget_one"):
        return await xcom.aget_one(key=key, **address)
    from asgiref.sync import sync_to_async

    return await sync_to_async(xcom.get_one)(key=key, **address)


async def xcom_set(key: str, value: Any, **address: Any) -> None:
    """Store an XCom of a task instance from a trigger (as ``xcom_get`` reads it)."""
    xcom = __getattr__("XCom")
    if hasattr(xcom, "aset"):
        await xcom.aset(key, value, **address)
        return
    from asgiref.sync import sync_to_async

    await sync_to_async(xcom.set)(key, value, **address)
