"""TI-ONE's hook: ``TIONEHook`` (``hook``) and the training logs' readers (``logs``).

``airflow_provider_tia.hooks.tione.TIONEHook`` is the path Airflow's connection form and DAGs use.
"""

from __future__ import annotations

from airflow_provider_tia.hooks.tione.hook import AsyncTIONEClient, TIONEHook
from airflow_provider_tia.hooks.tione.logs import AsyncTIONELogReader, TIONELogReader

__all__ = ["AsyncTIONEClient", "AsyncTIONELogReader", "TIONEHook", "TIONELogReader"]
