"""What every TI-A task class shares: connection id, region, hook, and the job link."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_tia.links.tia import XCOM_KEY, TIAJobLink, link_value

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tia import TIAHook

DEFAULT_CONN_ID = "tencentcloud_default"


class TIABaseOperator(BaseOperator):
    """Base of the TI-A operators and sensor.

    :param tia_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    operator_extra_links = (TIAJobLink(),)

    def __init__(
        self, *, tia_conn_id: str = DEFAULT_CONN_ID, region: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.tia_conn_id = tia_conn_id
        self.region = region

    @cached_property
    def hook(self) -> TIAHook:
        from airflow_provider_tia.hooks.tia import TIAHook  # the hook module stays out of DAG parsing

        return TIAHook(self.tia_conn_id, self.region)

    def push_link(self, context: Context, name: str, cluster: str) -> None:
        """Store the "TI-A Job" link's target now, so the link works while the job runs."""
        context["ti"].xcom_push(key=XCOM_KEY, value=link_value(self.hook.settings, name, cluster))
