"""CreateModelService's fields as explicit keywords of ``DeployModelServiceOperator``.

One keyword per row of ``SERVICE_SPEC_FIELDS`` but those the rollout sets itself (``MANAGED``), each in
the signature so ``.partial()`` and ``.expand()`` take it by name (Airflow checks a mapped operator's
keywords against the signatures of its classes). The table stays the one place that says what a field
is; ``tests/operators/test_tione_keywords.py`` holds this signature against it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_tia.models.tione.service_spec import SERVICE_SPEC_FIELDS
from airflow_provider_tia.operators.tione.base import TIONEBaseOperator

# Set by the rollout itself (the group, the new-version flag, the model): not keywords.
MANAGED = ("service_group_id", "new_version", "model_info")
# Airflow's BaseOperator has a ``resources`` of its own: the Resources field is ``service_resources`` here.
RENAMED = {"resources": "service_resources"}
FIELDS = {
    RENAMED.get(f.attr, f.attr): f
    for f in SERVICE_SPEC_FIELDS
    if f.attr not in (*MANAGED, "service_group_name")
}
SPEC_ATTRS = tuple(FIELDS)  # the operator's keywords of CreateModelService fields


class ServiceKeywordsOperator(TIONEBaseOperator):
    """Keeps each CreateModelService keyword as an attribute of the same name (templated by the subclass)."""

    def __init__(
        self,
        *,
        ti_project_id: str | None = None,
        service_description: str | None = None,
        charge_type: str | None = None,
        resource_group_id: str | None = None,
        image_info: dict[str, Any] | None = None,
        env: dict[str, str] | list[dict[str, Any]] | None = None,
        service_resources: dict[str, Any] | None = None,
        instance_type: str | None = None,
        scale_mode: str | None = None,
        replicas: int | str | None = None,
        horizontal_pod_autoscaler: dict[str, Any] | None = None,
        log_enable: bool | str | None = None,
        log_config: dict[str, Any] | None = None,
        authorization_enable: bool | str | None = None,
        tags: dict[str, str] | list[dict[str, Any]] | None = None,
        cron_scale_jobs: list[dict[str, Any]] | None = None,
        scale_strategy: str | None = None,
        hybrid_billing_prepaid_replicas: int | str | None = None,
        create_source: str | None = None,
        model_hot_update_enable: bool | str | None = None,
        scheduled_action: dict[str, Any] | None = None,
        volume_mount: dict[str, Any] | None = None,
        service_limit: dict[str, Any] | None = None,
        callback_url: str | None = None,
        model_turbo_enable: bool | str | None = None,
        service_category: str | None = None,
        command: str | None = None,
        service_eip: dict[str, Any] | None = None,
        command_base64: str | None = None,
        service_port: int | str | None = None,
        deploy_type: str | None = None,
        instance_per_replicas: int | str | None = None,
        termination_grace_period_seconds: int | str | None = None,
        pre_stop_command: list[str] | None = None,
        grpc_enable: bool | str | None = None,
        health_probe: dict[str, Any] | None = None,
        rolling_update: dict[str, Any] | None = None,
        sidecar: dict[str, Any] | None = None,
        volume_mounts: list[dict[str, Any]] | None = None,
        scheduling_strategy: str | None = None,
        gateway_log_config: dict[str, Any] | None = None,
        gateway_config: dict[str, Any] | None = None,
        resource_supply_attribute: dict[str, Any] | None = None,
        infer_template_id: str | None = None,
        priority: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        values = {attr: value for attr, value in locals().items() if attr in FIELDS}
        super().__init__(**kwargs)
        for attr, value in values.items():
            setattr(self, attr, value)
