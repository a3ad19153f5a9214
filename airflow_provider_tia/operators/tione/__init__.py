"""TI-ONE in Airflow (``tione`` 2021-11-11), one module per API family:

- ``base``: the base of its task classes (connection, region, ``TIONEHook``);
- ``training_control`` and ``training``: create and wait, stop and delete a training task;
- ``repository``: register a training task's output as a model version;
- ``deploy``: create an online service or roll it to a new version, rolled back when the new version
  does not serve;
- ``call``: send a request to a deployed service.

DAGs import the operators from here: ``from airflow_provider_tia.operators.tione import
CreateTrainingTaskOperator`` (each name is imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "TIONEBaseOperator": "base",
    "CreateTrainingTaskOperator": "training",
    "DeleteTrainingTaskOperator": "training",
    "StopTrainingTaskOperator": "training",
    "RegisterModelVersionOperator": "repository",
    "CallModelServiceOperator": "call",
    "DeployModelServiceOperator": "deploy",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = [
    "CallModelServiceOperator",
    "CreateTrainingTaskOperator",
    "DeleteTrainingTaskOperator",
    "DeployModelServiceOperator",
    "RegisterModelVersionOperator",
    "StopTrainingTaskOperator",
    "TIONEBaseOperator",
]

if TYPE_CHECKING:
    from airflow_provider_tia.operators.tione.base import TIONEBaseOperator
    from airflow_provider_tia.operators.tione.call import CallModelServiceOperator
    from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
    from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator
    from airflow_provider_tia.operators.tione.training import (
        CreateTrainingTaskOperator,
        DeleteTrainingTaskOperator,
        StopTrainingTaskOperator,
    )
