"""TI-ONE as data, one module per API family: ``training_spec`` and ``training_task`` (training tasks),
``repository`` (model versions), ``service_spec`` and ``services`` (online services). No Airflow, no
network.

The names DAG authors use are re-exported here, so ``from airflow_provider_tia.models.tione import
output_prefix`` works; the provider's own modules import from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "REPOSITORY_SPEC_FIELDS": "repository",
    "ModelVersion": "repository",
    "TrainingModelSpec": "repository",
    "next_version_label": "repository",
    "SERVICE_SPEC_FIELDS": "service_spec",
    "ModelServiceSpec": "service_spec",
    "SERVICE_STATUSES": "services",
    "ModelService": "services",
    "ServiceCallInfo": "services",
    "ServiceGroup": "services",
    "rollout_state": "service_state",
    "TRAINING_SPEC_FIELDS": "training_spec",
    "TrainingTaskSpec": "training_spec",
    "STATUSES": "training_task",
    "TrainingLogLine": "training_task",
    "TrainingTask": "training_task",
    "output_prefix": "training_task",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = [
    "ModelService",
    "ModelServiceSpec",
    "ModelVersion",
    "REPOSITORY_SPEC_FIELDS",
    "SERVICE_SPEC_FIELDS",
    "SERVICE_STATUSES",
    "STATUSES",
    "ServiceCallInfo",
    "ServiceGroup",
    "TRAINING_SPEC_FIELDS",
    "TrainingLogLine",
    "TrainingModelSpec",
    "TrainingTask",
    "TrainingTaskSpec",
    "next_version_label",
    "output_prefix",
    "rollout_state",
]

if TYPE_CHECKING:
    from airflow_provider_tia.models.tione.repository import (
        REPOSITORY_SPEC_FIELDS,
        ModelVersion,
        TrainingModelSpec,
        next_version_label,
    )
    from airflow_provider_tia.models.tione.service_spec import SERVICE_SPEC_FIELDS, ModelServiceSpec
    from airflow_provider_tia.models.tione.service_state import rollout_state
    from airflow_provider_tia.models.tione.services import (
        SERVICE_STATUSES,
        ModelService,
        ServiceCallInfo,
        ServiceGroup,
    )
    from airflow_provider_tia.models.tione.training_spec import TRAINING_SPEC_FIELDS, TrainingTaskSpec
    from airflow_provider_tia.models.tione.training_task import (
        STATUSES,
        TrainingLogLine,
        TrainingTask,
        output_prefix,
    )
