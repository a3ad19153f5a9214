"""A local TI-A and TI-ONE service for tests and demos, in the shape of moto: ``core/`` (HTTP, signatures,
faults, bounds), one folder per service (``tia/``, ``tione/``) and the ``runners/`` both use; ``server``
puts them together on one port.

The public surface, imported lazily to keep this package light:

* ``TIAEmulator``: the whole service in-process (``with TIAEmulator() as emu: ...``).
* ``local_cos_server``: a local S3-compatible endpoint (moto) standing in for COS.

``python -m airflow_provider_tia.emulator`` runs it from the command line; the pytest plugin
(``airflow_provider_tia.emulator.pytest_plugin``) gives the fixtures ``tia_emulator`` and ``tia_connection``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runners.cos import local_cos_server
    from .server import TIAEmulator

__all__ = ["TIAEmulator", "local_cos_server"]


def __getattr__(name: str) -> Any:
    if name == "TIAEmulator":
        from .server import TIAEmulator

        return TIAEmulator
    if name == "local_cos_server":
        from .runners.cos import local_cos_server

        return local_cos_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
