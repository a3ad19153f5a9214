"""The retraining loop on `make ui`'s stack: a manual run of ``example_tione_retraining`` succeeds, its
register and deploy waits are deferred to the triggerer, and the deploy task's service link opens the
emulator's page of the service it rolled.

The stack is the one `make ui` starts (the emulator's local runner really trains, imports the output from
moto's COS and serves the model with tiinfer). Run: `pytest -m ui tests/ui -s`.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.ui import test_ui_browser as browser

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

# Bounded inside (start 240 s, the run RUN_TIMEOUT_S, each page step 60 s); this only backs them up.
pytestmark = [pytest.mark.ui, pytest.mark.timeout(720)]

# The browser test's fixtures: the `make ui` stack in a throwaway home, and a headless chromium page.
stack = browser.stack
page = browser.page

DAG_ID = "example_tione_retraining"
DEFERRED_TASKS = ("register", "deploy")
RUN_TIMEOUT_S = 360  # train (two DDP workers), import, start a tiinfer replica: ~2 min on 2 busy cores
# A small day: fewer digits and epochs keep the run short; the loop is the same.
CONF = {"samples": 300, "epochs": 2}


def trigger_manual_run(stack: Any) -> str:
    """Trigger a manual run through the REST API and unpause the DAG; the run's id.

    The DAG is ``@daily``: unpausing it alone would make the scheduler add a scheduled run of the latest
    interval, which would roll the same service after ours. The manual run takes that interval's logical
    date, so the scheduler finds the run already there and moves on to tomorrow's.
    """
    dag = stack.api("GET", f"/api/v2/dags/{DAG_ID}")
    body = {"logical_date": dag["next_dagrun_logical_date"], "conf": CONF}
    run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    return str(run["dag_run_id"])


def wait_for_run(stack: Any, run_id: str) -> tuple[dict, dict[str, list[str]]]:
    """Poll until the run ends: its last state, and the states each task instance was seen in."""
    seen: dict[str, list[str]] = {}
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        for ti in stack.api("GET", f"{path}/taskInstances")["task_instances"]:
            states = seen.setdefault(ti["task_id"], [])
            if ti["state"] and (not states or states[-1] != ti["state"]):
                states.append(ti["state"])
        run = stack.api("GET", path)
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            return run, seen
        time.sleep(1)


def task_logs(stack: Any, run_id: str, task_id: str) -> dict[str, str]:
    """The task's log files by name: each attempt's, and the triggerer's ``<attempt>.log.trigger.<job>.log``."""
    base = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    return {p.name: p.read_text(errors="replace") for p in sorted(base.glob("attempt=*.log*"))}


def test_a_manual_retraining_run_defers_its_waits_and_links_the_emulators_service_page(
    stack: Any, page: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"[ui] screenshots in {shots}")
    began = time.monotonic()
    try:
        run_id = trigger_manual_run(stack)
        run, seen = wait_for_run(stack, run_id)
        print(f"[ui] run {run_id} ended {run['state']} in {time.monotonic() - began:.1f} s; states {seen}")
        assert run["state"] == "success", f"{run}\n{seen}\n{stack.log_tail('scheduler')}"
        runs = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
        assert [r["dag_run_id"] for r in runs] == [run_id], "the scheduler added a run of its own"

        # The waits ran in the triggerer: each task paused as deferred, and its trigger fired an event.
        for task_id in DEFERRED_TASKS:
            logs = task_logs(stack, run_id, task_id)
            attempts = "".join(text for name, text in logs.items() if ".trigger." not in name)
            triggered = "".join(text for name, text in logs.items() if ".trigger." in name)
            assert "Pausing task as DEFERRED" in attempts, f"{task_id} did not defer: {list(logs)}"
            assert "Trigger fired event" in triggered, f"{task_id}'s trigger did not fire: {list(logs)}"
            print(f"[ui] {task_id} deferred (states seen: {seen.get(task_id)})")

        xcom = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/deploy/xcomEntries"
        deployed = stack.api("GET", f"{xcom}/return_value")["value"]
        group_id = deployed["ServiceGroupId"]

        # Log in, open the deploy task's details: its service link points at the emulator's page.
        page.goto(stack.url)
        page.get_by_label("Username").fill(stack.user)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="Dags").first).to_be_visible()
        page.goto(f"{stack.url}/dags/{DAG_ID}/runs/{run_id}/tasks/deploy")
        page.get_by_role("link", name="Details", exact=True).click()
        expect(page.get_by_role("heading", name="Extra Links")).to_be_visible()
        link = page.get_by_role("link", name="TI-ONE Service", exact=True)
        page_url = re.compile(
            rf"^http://{re.escape(stack.emulator_endpoint)}/console/tione/task\?id={re.escape(group_id)}\S*$"
        )
        expect(link).to_have_attribute("href", page_url)
        href = link.get_attribute("href")
        print(f"[ui] TI-ONE Service link: {href}")
        page.screenshot(path=shots / "01-deploy-details.png", full_page=True)

        # The emulator's page of that service: its group Id, and the version serving it is Normal.
        page.goto(str(href))
        expect(page.get_by_role("heading", level=1)).to_contain_text("TI-ONE service")
        expect(page.get_by_role("cell", name=group_id, exact=True)).to_be_visible()
        expect(page.get_by_role("cell", name="Normal", exact=True).first).to_be_visible()
        page.screenshot(path=shots / "02-emulator-service-page.png", full_page=True)
    except BaseException:
        page.screenshot(path=shots / "failure.png", full_page=True)
        for name in ("scheduler", "triggerer", "emulator"):
            print(f"---- {name} (last lines)\n{stack.log_tail(name, 15)}")
        raise
    finally:
        print(f"[ui] run and browser steps took {time.monotonic() - began:.1f} s")
