"""TI-A as data: ``job_spec`` (the CreateJob request) and ``job`` (replies, states, keys, log lines).
No Airflow, no network.

The names DAG authors use are re-exported here; the provider's own modules import from the defining
module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "Job": "job",
    "JobState": "job",
    "LogLine": "job",
    "TIAJobKey": "job",
    "SPEC_FIELDS": "job_spec",
    "JobSpec": "job_spec",
    "build_spec": "job_spec",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = [
    "Job",
    "JobSpec",
    "JobState",
    "LogLine",
    "SPEC_FIELDS",
    "TIAJobKey",
    "build_spec",
]

if TYPE_CHECKING:
    from airflow_provider_tia.models.tia.job import Job, JobState, LogLine, TIAJobKey
    from airflow_provider_tia.models.tia.job_spec import SPEC_FIELDS, JobSpec, build_spec
