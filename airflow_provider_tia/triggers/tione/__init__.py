"""TI-ONE's triggers, one module per API family, each on a batched per-region poller: ``training``
(``TrainingTaskTrigger``), ``repository`` (``ModelVersionTrigger``: a model import) and ``services``
(``ModelServiceTrigger``: a service serving a version) and ``rollout`` (``RolloutTrigger``: a
service rollout, rolled back on a kill); ``base`` holds what they share (``TIONETrigger``, internal).

Triggers already stored by Airflow under ``airflow_provider_tia.triggers.tione.<Class>`` still load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "ModelVersionPoller": "repository",
    "ModelVersionTrigger": "repository",
    "ModelServiceTrigger": "services",
    "RegionServicePoller": "services",
    "RolloutTrigger": "rollout",
    "RegionTaskPoller": "training",
    "TrainingTaskTrigger": "training",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = [
    "ModelServiceTrigger",
    "ModelVersionPoller",
    "ModelVersionTrigger",
    "RegionServicePoller",
    "RegionTaskPoller",
    "RolloutTrigger",
    "TrainingTaskTrigger",
]

if TYPE_CHECKING:
    from airflow_provider_tia.triggers.tione.repository import ModelVersionPoller, ModelVersionTrigger
    from airflow_provider_tia.triggers.tione.rollout import RolloutTrigger
    from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger, RegionServicePoller
    from airflow_provider_tia.triggers.tione.training import RegionTaskPoller, TrainingTaskTrigger
