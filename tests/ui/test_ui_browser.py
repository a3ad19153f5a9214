"""`make ui` as a person meets it, in headless chromium: log in, see our connection form, test the
connection, trigger the distributed example, and find the TI-A Job link on the finished task.

Run: `pytest -m ui tests/ui -s` (screenshots go to a temporary folder, printed at the start).
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Page

# Bounded inside (start 240 s, each page step 60 s, the run 240 s); this only backs them up.
pytestmark = [pytest.mark.ui, pytest.mark.timeout(720)]

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "example_tia_distributed"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 60_000  # any one page element or expectation; the stack shares 2 cores with the browser
RUN_TIMEOUT_S = 240  # the example trains for ~10 s; generous for a loaded CI machine
# Where the link points is changing (Tencent Cloud console vs the emulator's own page): any absolute URL.


def _load_run_ui() -> Any:
    spec = importlib.util.spec_from_file_location("tia_run_ui", ROOT / "example_dags" / "run_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_ui = _load_run_ui()


def processes_of(home: Path) -> list[str]:
    """Live processes started for this AIRFLOW_HOME (by environment or command line)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if f"AIRFLOW_HOME={home}".encode() in environ or str(home).encode() in cmdline:
            found.append(f"{pid}: {cmdline.decode(errors='replace')[:150]}")
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    """The `make ui` stack on free ports in a throwaway AIRFLOW_HOME; stopped whatever happens."""
    stack = run_ui.UIStack(tmp_path / "airflow-home", port=0, emulator_port=0)
    began = time.monotonic()
    try:
        stack.start(timeout=240)
        print(f"\n[ui] stack ready in {time.monotonic() - began:.1f} s at {stack.url}")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)  # expect() has its own default (5 s), not the page's
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def wait_for_run(stack: Any, run_id: str) -> dict:
    """Poll the REST API until the DAG run ends; its last state otherwise (the assert shows it)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(2)


def test_a_user_sees_our_connection_form_runs_the_example_and_finds_the_job_link(
    stack: Any, page: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"[ui] screenshots in {shots}")
    began = time.monotonic()
    try:
        # Log in with what `make ui` prints.
        page.goto(stack.url)
        page.get_by_label("Username").fill(stack.user)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="Dags").first).to_be_visible()
        page.screenshot(path=shots / "01-home.png")

        # The connection list has ours; its Test button reaches the emulator (needs [core] test_connection).
        page.goto(f"{stack.url}/connections")
        row = page.get_by_role("row").filter(has_text=run_ui.CONN_ID)
        expect(row).to_contain_text("tencentcloud")
        row.get_by_role("button", name="Test Connection").click()
        expect(page.get_by_role("status").filter(has_text="Test Connection")).to_contain_text(
            "Connection works"
        )
        page.screenshot(path=shots / "02-connections-tested.png")

        # The Add form for our type: relabelled SecretId/SecretKey, no host/port, our extra fields.
        page.get_by_role("button", name="Add Connection").click()
        form = page.get_by_role("dialog")
        conn_type = form.get_by_role("combobox", name="Connection Type")
        conn_type.fill("Tencent")
        page.get_by_role("option", name="Tencent Cloud (TI-A, TI-ONE)").click()
        expect(form.get_by_role("textbox", name="SecretId")).to_be_visible()
        expect(form.get_by_role("textbox", name="SecretKey")).to_be_visible()
        for hidden in ("Host", "Port", "Schema", "Login", "Password"):
            expect(form.get_by_role("textbox", name=hidden, exact=True)).to_have_count(0)
        form.get_by_role("button", name="Extra Fields", exact=True).click()
        for label in ("Region", "Session token", "Endpoint"):
            expect(form.get_by_text(label, exact=True)).to_be_visible()
        expect(form.get_by_text("Scheme", exact=True)).to_have_count(0)  # the endpoint URL carries it
        form.screenshot(path=shots / "03-connection-form.png")
        form.get_by_role("button", name="Close").click()

        # Trigger the distributed example by hand; the UI opens the new run.
        page.goto(f"{stack.url}/dags/{DAG_ID}")
        page.get_by_role("button", name="Trigger Dag").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_url(f"**/dags/{DAG_ID}/runs/*")
        run_id = page.url.rsplit("/runs/", 1)[1].split("/")[0]
        run = wait_for_run(stack, run_id)
        assert run["state"] == "success", f"{run}\n{stack.log_tail('scheduler')}"
        print(f"[ui] run {run_id} ended {run['state']}")

        # The finished CreateJobOperator task's Details tab carries the TI-A Job link.
        tis = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        train = next(ti for ti in tis["task_instances"] if ti["operator"] == "CreateJobOperator")
        assert train["state"] == "success"
        page.goto(f"{stack.url}/dags/{DAG_ID}/runs/{run_id}/tasks/{train['task_id']}")
        page.get_by_role("link", name="Details", exact=True).click()
        expect(page.get_by_role("heading", name="Extra Links")).to_be_visible()
        link = page.get_by_role("link", name="TI-A Job")
        # The job ran on the emulator: the link opens the emulator's page of that job.
        page_url = re.compile(
            rf"^http://{re.escape(stack.emulator_endpoint)}/console/tia/job\?cluster=\S+&name=\S+$"
        )
        expect(link).to_have_attribute("href", page_url)
        href = link.get_attribute("href")
        print(f"[ui] TI-A Job link: {href}")
        page.screenshot(path=shots / "04-task-details.png", full_page=True)
        page.goto(str(href))
        expect(page.get_by_text("Succeeded").first).to_be_visible()
        page.screenshot(path=shots / "05-emulator-job-page.png", full_page=True)
    except BaseException:
        page.screenshot(path=shots / "failure.png", full_page=True)
        for name in ("api-server", "scheduler", "triggerer", "emulator"):
            print(f"---- {name} (last lines)\n{stack.log_tail(name, 15)}")
        raise
    finally:
        print(f"[ui] browser steps took {time.monotonic() - began:.1f} s")

    # Stopping leaves nothing behind: no Airflow component, task process or emulator.
    home = stack.home
    stack.stop()
    assert processes_of(home) == []
