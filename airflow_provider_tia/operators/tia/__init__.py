"""TI-A in Airflow (``tia`` 2018-02-26):

- ``base``: the base of its task classes (connection, region, ``TIAHook``, the "TI-A Job" link);
- ``job_control`` and ``job``: create and wait for a training job, delete it.

DAGs import the operators from here: ``from airflow_provider_tia.operators.tia import CreateJobOperator``
(each name is imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "TIABaseOperator": "base",
    "TIAJobControl": "job_control",
    "CreateJobOperator": "job",
    "DeleteJobOperator": "job",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = ["CreateJobOperator", "DeleteJobOperator", "TIABaseOperator", "TIAJobControl"]

if TYPE_CHECKING:
    from airflow_provider_tia.operators.tia.base import TIABaseOperator
    from airflow_provider_tia.operators.tia.job import CreateJobOperator, DeleteJobOperator
    from airflow_provider_tia.operators.tia.job_control import TIAJobControl
