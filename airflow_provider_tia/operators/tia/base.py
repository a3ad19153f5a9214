"""The base of TI-A's Airflow task classes: connection, region, ``TIAHook`` and the "TI-A Job" link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.links.tia import TIAJobLink
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tia import TIAHook


class TIABaseOperator(TencentCloudBaseOperator):
    """Base of the TI-A task classes: the connection, the region, ``TIAHook`` and the "TI-A Job" link.

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    operator_extra_links = (TIAJobLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tia.TIAHook"
    if TYPE_CHECKING:
        hook: TIAHook
