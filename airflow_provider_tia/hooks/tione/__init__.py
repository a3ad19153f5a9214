"""TI-ONE's hook: ``TIONEHook`` (``hook``) and the training logs' readers (``logs``).

``airflow_provider_tia.hooks.tione.TIONEHook`` is the path Airflow's connection form and DAGs use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.lazy_exports import lazy_exports

_MODULE_OF = {
    "AsyncTIONEClient": "hook",
    "TIONEHook": "hook",
    "AsyncTIONELogReader": "logs",
    "TIONELogReader": "logs",
}
__getattr__ = lazy_exports(__name__, _MODULE_OF)
__all__ = [
    "AsyncTIONEClient",
    "AsyncTIONELogReader",
    "TIONEHook",
    "TIONELogReader",
]

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione.hook import AsyncTIONEClient, TIONEHook
    from airflow_provider_tia.hooks.tione.logs import AsyncTIONELogReader, TIONELogReader
