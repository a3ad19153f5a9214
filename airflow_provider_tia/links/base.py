"""What both job links share: the URL lives under the link's own XCom key from the moment the job exists.

Airflow 3's API server reads a link from XCom ``_link_<LinkClass>`` (``BaseOperatorLink.xcom_key``),
which the worker otherwise writes only when the task ends. The operator pushes the URL under that
key as soon as the job exists, so the link resolves while a blocking or deferred task still runs.
In the worker, ``get_link`` answers from the operator itself: no XCom read, so a task that failed
before creating its job logs no "XCom not found" error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.compat import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_tia.hooks.sdk import Settings


class JobLink(BaseOperatorLink):
    """A link to the task's job: empty until the job exists."""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        urls = getattr(operator, "job_links", None)
        if isinstance(urls, dict):  # the operator that ran the task: it knows its job's URL
            return str(urls.get(self.name, ""))
        from airflow_provider_tia.compat import XCom

        return str(XCom.get_value(ti_key=ti_key, key=self.xcom_key) or "")

    def url(self, settings: Settings, **job: str) -> str:
        """The job's URL from the connection's settings and the job's arguments (as its trigger takes them)."""
        raise NotImplementedError

    def publish(self, operator: Any, context: Context, url: str) -> None:
        """Make the link resolve now: on the operator (for the worker) and under its XCom key (for the UI)."""
        operator.job_links[self.name] = url
        context["ti"].xcom_push(key=self.xcom_key, value=url)
