"""TI-A as data: ``job_spec`` (the CreateJob request) and ``job`` (replies, states, keys, log lines).
No Airflow, no network.

The names DAG authors use are re-exported here; the provider's own modules import from the defining
module.
"""

from __future__ import annotations

from airflow_provider_tia.models.tia.job import Job, JobState, LogLine, TIAJobKey
from airflow_provider_tia.models.tia.job_spec import SPEC_FIELDS, JobSpec, build_spec

__all__ = ["SPEC_FIELDS", "Job", "JobSpec", "JobState", "LogLine", "TIAJobKey", "build_spec"]
