"""The provider in a production-like Airflow: PostgreSQL, LocalExecutor, two triggerers (HA), the emulator
(local runner: jobs really run) and COS (moto), all on 127.0.0.1. Run: `make test-deployment`.

One stack for the module. ``Campaign`` starts the scenarios' runs and does the disruptions (user kill,
SIGSTOP and SIGKILL of a triggerer) one at a time, so that no run is hit by another scenario's disruption.
Each test waits for its own runs and asserts; the figures (reassignments, lines lost and repeated, ERROR
lines) are printed at the end of the session. The AIRFLOW_HOME is kept for a look afterwards (printed;
``TIA_DEPLOYMENT_HOME`` chooses it). ``PYTHONPATH=<dir>`` runs the stack on another copy of the provider
(e.g. ``git archive HEAD airflow_provider_tia`` unpacked there), since every process inherits it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_tia.triggers.base import MIN_EVENT_DELAY
from tests.deployment.campaign import DAILY, MAPPED, PLATFORMS, QUICK, RUN_WAIT, STOP_WAIT, Campaign, Run
from tests.deployment.stack import AIRFLOW_PROCESSES, TI, Deployment, line_time, report, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.deployment,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        importlib.metadata.version("apache-airflow").startswith("2."),
        reason="UIStack runs Airflow 3's processes (Airflow 2: test_airflow2_stack.py)",
    ),
]

# Scenario 5 (SIGKILL of the triggerer holding a run's trigger, then its restart); .ci/run turns it off.
SIGKILL = os.environ.get("TIA_DEPLOYMENT_SIGKILL", "1") != "0"
LINK_NAMES = {"tione": "TI-ONE Training Task", "tia": "TI-A Job"}
OUTCOME = {"tione": "SUCCEED", "tia": "Succeeded"}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    """The stack, in a home of its own that outlives the session (pytest's basetemp is pruned)."""
    home = Path(os.environ.get("TIA_DEPLOYMENT_HOME") or tempfile.mkdtemp(prefix="tia-deployment-"))
    dep = Deployment(home / "airflow-home")
    began = time.monotonic()
    try:
        dep.start()
        stack = dep.stack
        report(
            "stack",
            f"ready in {time.monotonic() - began:.0f} s: {stack.url}, PostgreSQL on port {stack.postgres.port}, "
            f"triggerer jobs {stack.triggerer_jobs}, home {dep.home}",
        )
        yield dep
    finally:
        dep.stack.stop()


@pytest.fixture(scope="module")
def campaign(deployment: Deployment) -> Iterator[Campaign]:
    campaign = Campaign(deployment, sigkill=SIGKILL)
    campaign.launch()
    report("stack", f"runs launched (tag {campaign.tag})")
    yield campaign
    campaign.stop()


# ---- shared checks ------------------------------------------------------------------------------------
def job_of(dep: Deployment, run: Run) -> dict[str, Any] | None:
    """The run's job in the emulator (its name starts with the run's token); None once deleted."""
    jobs = dep.emu.tione_tasks(run.token) if run.platform == "tione" else dep.emu.tia_jobs(run.token)
    assert len(jobs) <= 1, f"{run.ti} made {len(jobs)} jobs: {[j['Name'] for j in jobs]}"
    return jobs[0] if jobs else None


def job_state(job: dict[str, Any] | None) -> str:
    return "deleted" if job is None else str(job.get("Status") or job.get("State"))


def check_live_run(dep: Deployment, campaign: Campaign, run: Run, scenario: str) -> list[str]:
    """A run that a triggerer disruption hit: the job ran to its end, the task succeeded, every line once."""
    problems = []
    final = dep.wait_run(run.dag_id, run.run_id, RUN_WAIT)
    ti = dep.ti(run.ti)
    job = job_of(dep, run)
    ends = dep.emu.ends_of(run.token)
    lines = dep.count_lines(run.ti, run.token, run.lines)
    holders = dep.triggerers_that_logged(run.ti)
    forced = campaign.forced(run)
    moves = [d.moved[str(run.ti)] for d in campaign.disruptions if str(run.ti) in d.moved]
    overwritten = overwritten_lines(campaign, run, lines.lost)
    lost = [n for n in lines.lost if n not in overwritten]
    report(
        scenario,
        f"{run.ti}: run {final['state']}, task {ti['state']} (try {ti['try_number']}), job {job_state(job)}; "
        f"{len(forced)} forced reassignment(s) (moved to jobs {moves}); trigger log files of triggerer jobs "
        f"{holders}; stop/delete calls on the job: {[c['action'] for c in ends]}; lines: {lines.summary()}",
    )
    if overwritten:
        report(
            scenario,
            f"{run.ti}: lines {overwritten} were written, then lost when the trigger came back to a triggerer job "
            "that had run it before: Airflow 3.3.2 reopens attempt=N.log.trigger.<job>.log with mode 'w' "
            "(not the provider's; not counted as lost)",
        )
    if str(run.ti) in campaign.not_disrupted:
        problems.append(f"{run.ti}: could not be disrupted: {campaign.not_disrupted[str(run.ti)]}")
    elif not forced:
        at = [(d.kind, d.at_line.get(str(run.ti))) for d in campaign.disruptions if str(run.ti) in d.moved]
        problems.append(
            f"{run.ti}: no reassignment was forced while the job still ran (disruptions at lines {at}): "
            "the harness did not test a live handover"
        )
    if ends:
        problems.append(
            f"{run.ti}: the emulator got {[c['action'] for c in ends]} for the job: it must keep running"
        )
    if job_state(job) != OUTCOME[run.platform]:
        problems.append(f"{run.ti}: the job ended {job_state(job)}, not {OUTCOME[run.platform]}")
    if ti["state"] != "success":
        problems.append(f"{run.ti}: the Airflow task ended {ti['state']}, not success")
    if lost:
        problems.append(f"{run.ti}: {len(lost)} of {run.lines} job lines missing from the task logs: {lost}")
    if lines.repeated:
        problems.append(f"{run.ti}: {lines.repeated} job lines repeated in the task logs ({lines.summary()})")
    return problems


def overwritten_lines(campaign: Campaign, run: Run, lost: list[int]) -> list[int]:
    """Lost lines that a triggerer job wrote before the trigger moved away from it and came back to it later
    (that job's trigger log file is then truncated: Airflow opens it with mode "w")."""
    key, found = str(run.ti), set()
    moves = [d for d in campaign.disruptions if key in d.moved]
    for i, left in enumerate(moves):
        if any(later.moved[key] == left.job for later in moves[i + 1 :]):
            found.update(n for n in lost if n <= left.at_line.get(key, 0))
    return sorted(found)


def diagnose(dep: Deployment, key: TI, prefix: str) -> str:
    """Why a deferrable task may have failed: its triggerers, the Stop/Delete calls on its job, the error."""
    errors = [event for _, event in dep.log_events(key) if "rror" in event or "xception" in event]
    calls = [c["action"] for c in dep.emu.ends_of(prefix)]
    return (
        f"triggerer jobs {dep.triggerers_that_logged(key)}, stop/delete calls {calls}, errors {errors[-3:]}"
    )


# ---- 1. trigger reassignment (SIGSTOP) --------------------------------------------------------------
def test_trigger_reassignment_keeps_the_jobs_running(deployment: Deployment, campaign: Campaign) -> None:
    campaign.wait_phase("s1", timeout=800)
    problems = []
    for platform in PLATFORMS:
        problems += check_live_run(deployment, campaign, campaign.run("s1", platform), "s1")
    assert not problems, "\n".join(problems)


# ---- 2. user kill while deferred ----------------------------------------------------------------------
def test_user_kill_while_deferred_stops_the_job(deployment: Deployment, campaign: Campaign) -> None:
    campaign.wait_phase("s2", timeout=600)
    dep, problems = deployment, []
    for platform in PLATFORMS:
        run = campaign.run("s2", platform)
        if platform not in campaign.kills:
            problems.append(f"{run.ti}: never killed: {campaign.not_disrupted.get(str(run.ti))}")
            continue
        killed = campaign.kills[platform]
        ended = "STOPPED" if platform == "tione" else "deleted"

        def stopped(run: Run = run, ended: str = ended) -> bool:
            return job_state(job_of(dep, run)) == ended

        # Bounded from the kill: the test may start checking later (the scenarios run together).
        with contextlib.suppress(AssertionError):
            wait_for(
                f"the job of {run.ti} to be {ended}",
                stopped,
                timeout=max(1, killed + STOP_WAIT - time.time()),
            )
        state = job_state(job_of(dep, run))
        calls = dep.emu.ends_of(run.token)
        delays = [f"{c['action']} {c['t'] - killed:+.1f} s" for c in calls]
        report(
            "s2",
            f"{run.ti}: task {dep.ti_state(run.ti)}, job {state}; calls after the kill: {delays or 'none'}",
        )
        in_time = [c for c in calls if c["t"] - killed <= STOP_WAIT]
        if state != ended or not in_time:
            problems.append(
                f"{run.ti}: the job is {state} (calls: {delays or 'none'}); it must be {ended} within {STOP_WAIT} s "
                "of the deferred task being marked failed"
            )
    assert not problems, "\n".join(problems)


# ---- 3. scheduled runs of a fixed name ----------------------------------------------------------------
def test_scheduled_runs_with_a_fixed_name_create_a_job_each(
    deployment: Deployment, campaign: Campaign
) -> None:
    dep, problems = deployment, []
    for platform, dag_id in DAILY.items():

        def all_ended(dag_id: str = dag_id) -> list[dict[str, Any]] | None:
            runs = dep.dag_runs(dag_id)
            return runs if len(runs) >= 3 and all(r["state"] in ("success", "failed") for r in runs) else None

        wait_for(f"three ended runs of {dag_id}", all_ended, RUN_WAIT, interval=3, context=dep.context)
        time.sleep(3)  # a catch-up run the scheduler was about to create
        runs = wait_for(f"every run of {dag_id} to end", all_ended, RUN_WAIT, interval=3, context=dep.context)
        name = f"daily-{platform}"
        if platform == "tione":
            jobs = {t["Id"] for t in dep.emu.tione_tasks(name)}
            created = dep.emu.calls("CreateTrainingTask")
        else:
            jobs = {j.get("Id") or j["Name"] for j in dep.emu.tia_jobs(name)}
            created = dep.emu.calls("CreateJob")
        creates = [c for c in created if str(c["params"].get("Name", "")).startswith(name)]
        states = Counter(r["state"] for r in runs)
        report(
            "s3",
            f"{dag_id}: {len(runs)} runs {dict(states)} ({', '.join(sorted(r['dag_run_id'] for r in runs))}); "
            f"{len(jobs)} distinct jobs named {name}*; {len(creates)} create calls",
        )
        if states["success"] != len(runs):
            problems.append(f"{dag_id}: runs ended {dict(states)}, not all success")
        if len(jobs) != len(runs):
            problems.append(
                f"{dag_id}: {len(runs)} scheduled runs made {len(jobs)} distinct job(s), not {len(runs)}"
            )
    assert not problems, "\n".join(problems)


# ---- 4. dynamic task mapping --------------------------------------------------------------------------
def test_dynamic_mapping_creates_a_job_per_mapped_instance(
    deployment: Deployment, campaign: Campaign
) -> None:
    dep, problems = deployment, []
    for platform, dag_id in MAPPED.items():
        if platform in campaign.mapped_import_errors:
            error = campaign.mapped_import_errors[platform]
            report("s4", f"{dag_id}: import error: {error.strip().splitlines()[-1]}")
            problems.append(f"{dag_id} does not import (dag-processor):\n{error}")
            continue
        run_id = campaign.mapped_runs[platform]
        final = dep.wait_run(dag_id, run_id, RUN_WAIT)
        mapped = [t for t in dep.task_instances(dag_id, run_id) if t["map_index"] >= 0]
        states = Counter(t["state"] for t in mapped)
        prefix = f"mapped-{platform}"
        jobs = dep.emu.tione_tasks(prefix) if platform == "tione" else dep.emu.tia_jobs(prefix)
        report(
            "s4",
            f"{dag_id}/{run_id}: run {final['state']}, {len(mapped)} mapped tasks {dict(states)}, {len(jobs)} jobs",
        )
        if len(mapped) != 3 or states["success"] != 3:
            failed = [
                f"[{t['map_index']}] {t['state']}: {diagnose(dep, TI(dag_id, run_id, 'train', t['map_index']), prefix)}"
                for t in mapped
                if t["state"] != "success"
            ]
            problems.append(f"{dag_id}: mapped task instances {dict(states)} (want 3 success) {failed}")
        if len(jobs) != 3:
            problems.append(f"{dag_id}: {len(jobs)} jobs named {prefix}*, not one per mapped instance (3)")
    assert not problems, "\n".join(problems)


# ---- 5. triggerer SIGKILL -----------------------------------------------------------------------------
@pytest.mark.skipif(
    not SIGKILL,
    reason="TIA_DEPLOYMENT_SIGKILL=0: in 2 of 3 runs on 2026-12-07 both triggerers received SIGTERM 0.2 s after "
    "the SIGKILLed one was restarted (the sender is not found yet), which strands the scenario's runs",
)
def test_triggerer_sigkill_loses_no_lines(deployment: Deployment, campaign: Campaign) -> None:
    campaign.wait_phase("s5", timeout=800)
    problems = []
    for platform in PLATFORMS:
        problems += check_live_run(deployment, campaign, campaign.run("s5", platform), "s5")
    # After a SIGKILL the honest bound for repeats is one poll's lines (the last checkpoint may be a poll
    # old); the count is reported above and the target is 0, so any repeat fails the scenario.
    assert not problems, "\n".join(problems)


# ---- 6. the extra link while a blocking task runs ---------------------------------------------------------
def test_extra_link_is_shown_while_the_task_runs(deployment: Deployment, campaign: Campaign) -> None:
    campaign.wait_thread("links", timeout=RUN_WAIT + 60)
    problems = []
    for platform in PLATFORMS:
        run, name = campaign.run("s6", platform), LINK_NAMES[platform]
        samples = campaign.link_samples[platform]
        running = [s for s in samples if s["ti"] == "running" and s["job"] is not None]
        shown = [s for s in running if s["links"].get(name)]
        final = samples[-1] if samples else {}
        report(
            "s6",
            f"{run.ti}: {len(running)} reads while running (job existing): {name!r} non-empty in {len(shown)}; "
            f"first {running[0]['links'] if running else None}; at the end {final.get('links')} ({final.get('ti')})",
        )
        if not running:
            problems.append(f"{run.ti}: the link was never read while the task ran (samples: {samples[:3]})")
        elif not shown:
            problems.append(
                f"{run.ti}: GET .../links gave no URL for {name!r} while the task was running and the job existed "
                f"(got {running[-1]['links']} in {len(running)} reads)"
            )
        if final.get("ti") != "success":
            problems.append(f"{run.ti}: the task ended {final.get('ti')}, not success")
    assert not problems, "\n".join(problems)


# ---- 8. jobs that end seconds after deferral ---------------------------------------------------------------
def test_jobs_ending_seconds_after_deferral_succeed(deployment: Deployment, campaign: Campaign) -> None:
    dep = deployment
    final = dep.wait_run(QUICK, campaign.quick_run, RUN_WAIT)
    tis = dep.task_instances(QUICK, campaign.quick_run)
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in tis}
    scheduler = (dep.stack.logs / "scheduler.log").read_text(errors="replace")
    races = [
        line for line in scheduler.splitlines() if "Executor reported" in line and campaign.quick_run in line
    ]
    report("s8", f"{QUICK}/{campaign.quick_run}: run {final['state']}; tasks (state, try) {states}")
    report("s8", f"scheduler 'Executor reported ...' lines for this run: {len(races)}")
    for line in races[:4]:
        report("s8", f"  {line[:300]}")
    waits = {
        t["task_id"]: fired_after_deferral(dep, TI(QUICK, campaign.quick_run, t["task_id"])) for t in tis
    }
    report("s8", f"seconds from deferral to event, by task: {waits}")
    early = {task: wait for task, wait in waits.items() if wait is None or wait < MIN_EVENT_DELAY - 1}
    assert not early, (
        f"events fired sooner than [tencentcloud] min_trigger_event_delay ({MIN_EVENT_DELAY:.0f} s) after the "
        f"deferral (is the stack's configuration its own?): {early}"
    )
    bad = {task: st for task, st in states.items() if st[0] != "success" or st[1] != 1}
    why = {
        task: diagnose(dep, TI(QUICK, campaign.quick_run, task), f"quick-{task.replace('_', '-')}")
        for task, st in bad.items()
        if st[0] == "failed"
    }
    assert len(tis) == 10 and not bad, f"tasks not ending success on their first try: {bad}; {why}"


def fired_after_deferral(dep: Deployment, key: TI) -> float | None:
    """Seconds from the task's "Pausing task as DEFERRED" to its trigger's "Trigger fired event"."""
    deferred = fired = None
    for path in dep.log_files(key):
        for raw in path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            event = str(line.get("event", ""))
            if event.startswith("Pausing task as DEFERRED") and deferred is None:
                deferred = iso_epoch(line["timestamp"])
            elif event == "Trigger fired event":
                fired = iso_epoch(line["timestamp"])
    return None if deferred is None or fired is None else round(fired - deferred, 1)


def iso_epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ---- 7. no ERROR lines in clean runs (last: after every run has ended) -------------------------------------
def test_no_error_lines_in_clean_runs(deployment: Deployment, campaign: Campaign) -> None:
    dep = deployment
    for name in ("driver", "links"):  # whatever they found: their scenarios' tests report it
        campaign.threads[name].join(RUN_WAIT)
    runs = [(r.dag_id, r.run_id) for r in campaign.runs.values() if r.scenario != "s5" or campaign.sigkill]
    runs += [(MAPPED[p], run_id) for p, run_id in campaign.mapped_runs.items()] + [
        (QUICK, campaign.quick_run)
    ]
    for dag_id, run_id in runs:
        try:
            dep.wait_run(dag_id, run_id, RUN_WAIT)
        except AssertionError as error:  # never triggered (the driver stopped early) or still running
            report("s7", f"{dag_id}/{run_id} did not end: {str(error).splitlines()[0]}")
    campaign.stop()
    report(
        "s7",
        f"longest triggerer heartbeat age by job, outside its own disruptions: {campaign.heartbeat_report()}",
    )
    # Legitimate: lines about the runs killed on purpose (2: by the user; 5: their triggerer SIGKILLed), and
    # lines naming no run logged while a triggerer was SIGKILLed and restarted (Airflow's view of a dead one).
    deliberate = {
        r.run_id: f"{r.scenario} ({r.platform})" for r in campaign.runs.values() if r.scenario in ("s2", "s5")
    }
    windows = [(d.started - 1, d.ended + 15) for d in campaign.disruptions if d.kind == "SIGKILL"]
    clean: list[tuple[str, str]] = []
    excused: Counter[str] = Counter()
    for process, line in dep.error_lines():
        why = next((label for run_id, label in deliberate.items() if run_id in line), None)
        when = line_time(line)
        if why is None and when is not None and any(a <= when <= b for a, b in windows):
            why = "SIGKILL window"
        if why:
            excused[f"{process} [{why}]: {_blur(line)}"] += 1
        else:
            clean.append((process, line))
    by_process = Counter(process for process, _ in clean)
    texts = Counter(f"{process}: {_blur(line)}" for process, line in clean)
    report(
        "s7",
        f"ERROR lines outside the deliberate kills, by process: {dict(by_process) or 0} (of {', '.join(AIRFLOW_PROCESSES)})",
    )
    for text, count in texts.most_common(15):
        report("s7", f"  {count} x {text}")
    report("s7", f"excused (about the deliberately killed runs): {sum(excused.values())}")
    for text, count in excused.most_common(8):
        report("s7", f"  {count} x {text}")
    others = Counter(process for process, _ in dep.error_lines(("emulator", "cos", "postgres")))
    report("s7", f"not counted: ERROR lines of the emulator, COS and PostgreSQL: {dict(others) or 0}")
    assert not clean, f"{len(clean)} ERROR lines outside the deliberate kills:\n" + "\n".join(
        f"{count} x {text}" for text, count in texts.most_common(15)
    )


def _blur(line: str) -> str:
    """A log line without its timestamp, with run ids, uuids and numbers blurred, so repeats group."""
    text = re.sub(r"^\S+( \S+\+00:00)?\s+", "", line, count=1)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f-]{27,}", "<uuid>", text)
    text = re.sub(r"\b(s\d|quick|mapped|daily)-[\w-]+|scheduled__\S+?(?=['\s,])", "<run>", text)
    text = re.sub(r"(tione|tia)_\d", r"\1_<n>", text)
    return text[:240]
