"""Session emulators for the emulator tests (helpers live in the ``helpers`` package)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.emulator import TIAEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TIAEmulator]:
    """A session emulator with the local runner."""
    with TIAEmulator(runner="local", state_dir=tmp_path_factory.mktemp("emu-local")) as e:
        yield e


@pytest.fixture(scope="session")
def sim_emu() -> Iterator[TIAEmulator]:
    """A session emulator with the simulated runner (jobs last 0.05 s by default)."""
    with TIAEmulator(runner="simulated", sim_duration=0.05) as e:
        yield e
