"""``ResumableJobMixin`` from Airflow 3.3, or a stand-in on older versions (no ``task_state_store``).

The stand-in submits on every try; the operator's ``submit_job`` then finds its job by name
(``lifecycle.decide``), which is the reattach path below 3.3. (common-compat's own stand-in needs
Python >= 3.11 and a release newer than Airflow 3.2, so it cannot serve the floor we support.)
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import ResumableJobMixin
except ImportError:  # Airflow < 3.3

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Submit (reattaching by name), wait, report: what ``execute_resumable`` does without a store."""

        external_id_key = "remote_job_id"

        def execute_resumable(self, context: Any) -> Any:
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


__all__ = ["ResumableJobMixin"]
