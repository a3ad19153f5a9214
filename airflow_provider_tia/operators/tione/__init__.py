"""TI-ONE in Airflow (``tione`` 2021-11-11): ``base`` (the base of its task classes), ``training_control``
(one execution's training-task calls) and ``training`` (the operators that create and wait, stop and
delete a training task).

DAGs import the operators from here: ``from airflow_provider_tia.operators.tione import
CreateTrainingTaskOperator``.
"""

from __future__ import annotations

from airflow_provider_tia.operators.tione.base import TIONEBaseOperator
from airflow_provider_tia.operators.tione.training import (
    CreateTrainingTaskOperator,
    DeleteTrainingTaskOperator,
    StopTrainingTaskOperator,
)

__all__ = [
    "CreateTrainingTaskOperator",
    "DeleteTrainingTaskOperator",
    "StopTrainingTaskOperator",
    "TIONEBaseOperator",
]
