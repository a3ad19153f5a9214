"""CallModelServiceOperator: send one JSON request to a deployed TI-ONE service and return its reply, so a
DAG can smoke-test or evaluate the model in service. Nothing heavy is imported at module level."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.links.tione import ModelServiceLink
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tione import TIONEHook


class CallModelServiceOperator(TencentCloudBaseOperator):
    """POST ``payload`` as JSON to a service group's prediction endpoint and return the decoded reply
    (the XCom return value).

    The endpoint and token come from DescribeModelServiceCallInfo (the token goes in ``Authorization``
    when the group has authentication on; it is masked and never logged). Traffic goes to the group's
    versions by their weights. A failed call (HTTP error, unreachable endpoint) fails the task with an
    error naming the group and quoting the reply.

    Example::

        CallModelServiceOperator(task_id="smoke", service_group_id="ms-skdg89rx", payload={"x": [1.0, 2.0]})

    :param service_group_id: The group, ``ms-…`` (templated).
    :param payload: The JSON body: a dict, list or scalar (templated; checked to be JSON before any call).
    :param timeout: Seconds to wait for the reply (templated).
    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    template_fields = ("service_group_id", "payload", "timeout", "region")
    template_fields_renderers = {"payload": "json"}
    operator_extra_links = (ModelServiceLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tione.TIONEHook"
    if TYPE_CHECKING:
        hook: TIONEHook

    def __init__(
        self, *, service_group_id: str, payload: Any, timeout: float | str = 30.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.service_group_id = service_group_id
        self.payload = payload
        self.timeout = timeout

    def execute(self, context: Context) -> Any:
        group_id, seconds = self._checked()
        self.push_link(context, service_group_id=group_id)
        self.log.info("Calling TI-ONE service group %s", group_id)
        return self.hook.call_model_service(group_id, self.payload, timeout=seconds)

    def _checked(self) -> tuple[str, float]:
        """The rendered arguments, refused by name before any call."""
        group_id = self.service_group_id
        if not isinstance(group_id, str) or not group_id.strip():
            raise JobSpecError("service_group_id", "must be a service group Id such as 'ms-skdg89rx'")
        try:
            json.dumps(self.payload)
        except (TypeError, ValueError) as error:
            raise JobSpecError("payload", f"is not JSON-serialisable ({error})") from None
        try:
            seconds = float(self.timeout)
        except (TypeError, ValueError):
            seconds = 0.0
        if not seconds > 0:
            raise JobSpecError("timeout", f"must be a number of seconds > 0, got {str(self.timeout)!r:.40}")
        return group_id.strip(), seconds
