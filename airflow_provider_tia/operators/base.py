"""What every task class shares (region, hook) and what every TI-A one adds: connection id, job link."""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_tia.links.tia import TIAJobLink, link_url

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tia import TIAHook

DEFAULT_CONN_ID = "tencentcloud_default"


class TencentCloudOperator(BaseOperator):
    """What every task class of this provider shares: the region, and a hook built on first use.

    A platform base says which connection attribute it reads and which hook class it builds.
    """

    hook_class_path: ClassVar[str] = ""

    def __init__(self, *, region: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region = region
        self.job_links: dict[str, str] = {}  # link name -> URL of this execution's job (``JobLink``)

    @property
    def conn_id(self) -> str:
        raise NotImplementedError

    @cached_property
    def hook(self) -> Any:
        """The platform's hook (its module stays out of DAG parsing until a task runs)."""
        module, _, name = self.hook_class_path.rpartition(".")
        return getattr(importlib.import_module(module), name)(self.conn_id, self.region)


class TIABaseOperator(TencentCloudOperator):
    """Base of the TI-A operators and sensor.

    :param tia_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    operator_extra_links = (TIAJobLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tia.TIAHook"
    if TYPE_CHECKING:
        hook: TIAHook

    def __init__(self, *, tia_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tia_conn_id = tia_conn_id

    @property
    def conn_id(self) -> str:
        return self.tia_conn_id

    def push_link(self, context: Context, name: str, cluster: str) -> None:
        """Store the "TI-A Job" link's target now, so the link works while the job runs."""
        TIAJobLink().publish(self, context, link_url(self.hook.settings, name, cluster))
