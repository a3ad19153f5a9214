"""pytest plugin (entry point ``pytest11``): fixtures ``tia_emulator`` and ``tia_connection``.

Importing this module is cheap; the emulator (Starlette, uvicorn) loads only when a fixture is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .server import TIAEmulator


@pytest.fixture(scope="session")
def tia_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TIAEmulator]:
    """A session-wide TI-A and TI-ONE emulator (local runners, state in a temp dir) on a free port: TiaClient
    and TioneClient (``TIONEHook``) reach it at ``emu.endpoint`` with ``emu.secret_id``/``emu.secret_key``."""
    from .server import TIAEmulator

    emu = TIAEmulator(runner="local", state_dir=tmp_path_factory.mktemp("tia-emulator"))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def tia_connection(tia_emulator: TIAEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets ``AIRFLOW_CONN_TENCENTCLOUD_DEFAULT`` to the emulator's connection; returns the conn id."""
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_DEFAULT", tia_emulator.connection_uri_json())
    return "tencentcloud_default"
