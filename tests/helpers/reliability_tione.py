"""TI-ONE helpers of the reliability suite: a CreateTrainingTaskOperator on the simulated runner, and what
the emulator really holds (tasks by name, their log lines, how many were created). Driving the operator
(polling or deferred) and judging log lines are ``tests.helpers.reliability``'s and serve both platforms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator
from tests.helpers.reliability import count_creations, sim_settings

if TYPE_CHECKING:
    from collections import Counter

    from airflow_provider_tia.emulator import TIAEmulator

WORKER = [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]
SUCCEED, FAILED = "SUCCEED", "FAILED"


def training_op(
    name: str,
    conn_id: str,
    duration: float,
    lines: int,
    outcome: str = "Succeeded",
    start_delay: float = 0.0,
    **kwargs: Any,
) -> CreateTrainingTaskOperator:
    """A one-role task on the simulated runner (its ``sim.*`` tags say how long it runs and how it ends)."""
    kwargs.setdefault("task_id", "train")
    kwargs.setdefault("resource_config_infos", WORKER)
    kwargs.setdefault("poll_interval", 0.2)
    return CreateTrainingTaskOperator(
        name=name,
        start_cmd="python train.py",
        tags={**sim_settings(duration, outcome, lines, start_delay), **kwargs.pop("tags", {})},
        tencentcloud_conn_id=conn_id,
        **kwargs,
    )


def tasks_named(emu: TIAEmulator, name: str) -> list[dict]:
    """Every training task of this name the emulator holds (of its own account), oldest first."""
    assert emu.tione is not None
    return [task for task in emu.tione.store.list(emu.account.uin) if task["Name"] == name]


def the_task(emu: TIAEmulator, name: str) -> dict | None:
    """The one task of this name, None when there is none (more than one fails: a duplicate)."""
    found = tasks_named(emu, name)
    assert len(found) <= 1, f"{len(found)} tasks named {name}"
    return found[0] if found else None


def served_task_lines(emu: TIAEmulator, task_id: str) -> list[str]:
    """Every line the emulator holds for the task's latest run, formatted as the operator prints them."""
    assert emu.tione is not None
    task = emu.tione.store.require(task_id, None)
    lines = emu.tione.store.log_window(task["LatestInstanceId"], task["Uin"], 0, 2**63 - 1)
    return [f"[{pod}] {text}" for _, _, pod, text in lines]


def count_task_creations(emu: TIAEmulator) -> Counter:
    """Count training tasks the emulator really created, per name (a duplicate would count twice)."""
    assert emu.tione is not None
    return count_creations(emu, emu.tione.store, key=lambda spec: spec["Name"])
