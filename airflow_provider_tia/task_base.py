"""What every task class of this provider shares, operators and sensors alike (as Amazon's
``AwsBaseOperator``/``AwsBaseSensor``): the connection id, the region, a hook built on first use, and
the job link. A sensor puts it before ``BaseSensorOperator``.

A platform's classes say which hook they build (``hook_class_path``: its module stays out of DAG
parsing until a task runs) and which link they show (``operator_extra_links``).
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_tia.compat import BaseOperator
from airflow_provider_tia.connection_id import connection_id
from airflow_provider_tia.links.base import JobLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class TencentCloudBaseOperator(BaseOperator):
    """The connection, region, hook and job link of a task class.

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``); ``tia_conn_id`` and
        ``conn_id`` are deprecated names of it.
    :param region: Region overriding the connection's (templated).
    """

    hook_class_path: ClassVar[str] = ""
    operator_extra_links: Any = ()

    def __init__(
        self,
        *,
        tencentcloud_conn_id: str | None = None,
        region: str | None = None,
        tia_conn_id: str | None = None,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        old = {"tia_conn_id": tia_conn_id, "conn_id": conn_id}
        conn = connection_id(type(self).__name__, tencentcloud_conn_id, old)
        super().__init__(**kwargs)
        self.tencentcloud_conn_id = conn
        self.region = region
        self.job_links: dict[str, str] = {}  # link name -> URL of this execution's job (``JobLink``)

    @cached_property
    def hook(self) -> Any:
        """The platform's hook (its module stays out of DAG parsing until a task runs)."""
        module, _, name = self.hook_class_path.rpartition(".")
        return getattr(importlib.import_module(module), name)(self.tencentcloud_conn_id, self.region)

    def push_link(self, context: Context, **job: str) -> None:
        """Make the job's link resolve now (in the worker and in the UI), while the job runs."""
        for link in self.operator_extra_links:
            if isinstance(link, JobLink):
                link.publish(self, context, link.url(self.hook.settings, **job))
