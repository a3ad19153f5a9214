"""The base of TI-ONE's Airflow task classes: connection, region, ``TIONEHook`` and the links."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.links.tione import TIONETaskLink
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import TIONEHook


class TIONEBaseOperator(TencentCloudBaseOperator):
    """Base of the TI-ONE task classes: the connection, the region, ``TIONEHook`` and the
    "TI-ONE Training Task" link.

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    operator_extra_links = (TIONETaskLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tione.TIONEHook"
    if TYPE_CHECKING:
        hook: TIONEHook
