"""TI-ONE as data, one module per API family: ``training_spec`` (the CreateTrainingTask request) and
``training_task`` (its replies, statuses and log lines). No Airflow, no network.

The names DAG authors use are re-exported here, so ``from airflow_provider_tia.models.tione import
output_prefix`` works; the provider's own modules import from the defining module.
"""

from __future__ import annotations

from airflow_provider_tia.models.tione.training_spec import TRAINING_SPEC_FIELDS, TrainingTaskSpec
from airflow_provider_tia.models.tione.training_task import (
    STATUSES,
    TrainingLogLine,
    TrainingTask,
    output_prefix,
)

__all__ = [
    "STATUSES",
    "TRAINING_SPEC_FIELDS",
    "TrainingLogLine",
    "TrainingTask",
    "TrainingTaskSpec",
    "output_prefix",
]
