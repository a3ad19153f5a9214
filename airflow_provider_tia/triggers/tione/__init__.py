"""TI-ONE's triggers, one module per API family: ``training`` (``TrainingTaskTrigger`` on a batched
per-region poller).

Triggers already stored by Airflow under ``airflow_provider_tia.triggers.tione.<Class>`` still load.
"""

from __future__ import annotations

from airflow_provider_tia.triggers.tione.training import RegionTaskPoller, TrainingTaskTrigger

__all__ = ["RegionTaskPoller", "TrainingTaskTrigger"]
