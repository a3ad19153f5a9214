"""Every scenario's DAG runs on one stack, and the disruptions, in an order where they do not interfere.

A triggerer disruption moves *every* trigger the triggerer holds, so the runs it must not touch are done
before it starts (a run is never disrupted by another scenario's SIGSTOP/SIGKILL):

* at launch: the user kill's runs (2), the scheduled (3), mapped (4), blocking (6) and quick (8) runs;
* the driver thread: marks the deferred runs of 2 failed; once the deferrable runs of 4 and 8 have ended,
  triggers 1's runs and SIGSTOPs the triggerer holding each (until another triggerer holds it, then
  SIGCONT); then triggers 5's runs and, once 1's runs have ended, SIGKILLs the triggerer holding each
  (restarting it as a new triggerer job, so one is always alive);
* the link watcher thread (6) reads the extra links while the blocking tasks run;
* the monitor thread samples the triggerers' heartbeat ages (a triggerer silent for longer than the
  health threshold loses its triggers even when no one disrupts it: the figures say if that happened).

Each test waits for what it needs (``wait_phase``, ``Deployment.wait_run``) and asserts.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.deployment.stack import HEALTH_THRESHOLD, TERMINAL_RUN, TERMINAL_TI, TI, report, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.deployment.stack import Deployment

LIVE = {"tione": "deploy_tione_live", "tia": "deploy_tia_live"}
BLOCKING = {"tione": "deploy_tione_blocking", "tia": "deploy_tia_blocking"}
DAILY = {"tione": "deploy_tione_daily", "tia": "deploy_tia_daily"}
MAPPED = {"tione": "deploy_tione_mapped", "tia": "deploy_tia_mapped"}
MAPPED_FILES = {"tione": "deploy_tione_mapped.py", "tia": "deploy_tia_mapped.py"}
QUICK = "deploy_quick"
PLATFORMS = ("tione", "tia")
# Job sizes (lines x seconds apart): long enough for the disruptions that happen while they run.
SIZES = {
    "s1": {"lines": 60, "sleep": 2},  # ~120 s: one or two forced reassignments (~35 s each)
    "s2": {"lines": 150, "sleep": 1},  # killed by the user after a few lines
    # ~160 s: starts during 1's last minute, then one or two SIGKILLs (~45 s each, restart included)
    "s5": {"lines": 80, "sleep": 2},
    "s6": {"lines": 15, "sleep": 2},  # ~30 s, not deferrable
}
LINES_BEFORE_DISRUPTION = 4  # lines a trigger wrote to the task's logs before a disruption: it really follows
LINES_LEFT = 5  # a disruption counts when its job still had this many lines to print: the trigger was live
STOP_WAIT = 30  # seconds for a killed task's job to be stopped / deleted (scenario 2)
RUN_WAIT = 420  # seconds for a run the driver waits on (the stack shares 2 cores with ~20 jobs)


@dataclass
class Run:
    """One DAG run of a scenario, on one platform."""

    scenario: str
    platform: str
    dag_id: str
    run_id: str
    token: str
    lines: int = 0

    @property
    def ti(self) -> TI:
        return TI(self.dag_id, self.run_id)


@dataclass
class Disruption:
    """One SIGSTOP/SIGCONT or SIGKILL of a triggerer, and where its triggers went."""

    kind: str
    triggerer: str
    job: int
    started: float
    ended: float = 0.0
    # TI -> the triggerer job its trigger moved to (None: the trigger ended meanwhile)
    moved: dict[str, int | None] = field(default_factory=dict)
    # TI -> distinct job lines in its logs when the disruption began
    at_line: dict[str, int] = field(default_factory=dict)


class Campaign:
    def __init__(self, dep: Deployment, *, sigkill: bool = True) -> None:
        self.dep = dep
        self.sigkill = sigkill  # scenario 5 (SIGKILL of a triggerer); False: its runs are not started
        self.tag = tag = secrets.token_hex(2)
        self.runs: dict[tuple[str, str], Run] = {}
        for scenario, size in SIZES.items():
            dags = BLOCKING if scenario == "s6" else LIVE
            for platform in PLATFORMS:
                token = f"{scenario}-{platform}-{tag}"
                self.runs[scenario, platform] = Run(
                    scenario, platform, dags[platform], token, token, size["lines"]
                )
        self.mapped_runs: dict[str, str] = {}
        self.mapped_import_errors: dict[str, str] = {}
        self.quick_run = f"s8-quick-{tag}"
        self.threads: dict[str, threading.Thread] = {}
        self.failures: dict[str, str] = {}
        self.phases = {name: threading.Event() for name in ("s2", "s1", "s5")}  # the driver's, in this order
        self.kills: dict[str, float] = {}  # platform -> when the user marked the deferred task failed (s2)
        self.not_disrupted: dict[str, str] = {}  # TI -> why the driver could not disrupt it
        self.disruptions: list[Disruption] = []
        self.link_samples: dict[str, list[dict[str, Any]]] = {p: [] for p in PLATFORMS}
        self.heartbeats: list[tuple[float, int, float]] = []  # (when, triggerer job, heartbeat age in s)
        self._stopping = threading.Event()
        self.launched = 0.0

    def run(self, scenario: str, platform: str) -> Run:
        return self.runs[scenario, platform]

    # ---- launch -------------------------------------------------------------------------------
    def launch(self) -> None:
        dep, tag = self.dep, self.tag
        self.launched = time.time()
        errors = dep.import_errors()
        for dag_id in {*LIVE.values(), *BLOCKING.values(), *DAILY.values(), QUICK}:
            dep.unpause(dag_id)  # the daily DAGs start their catch-up runs now
        for scenario in ("s2", "s6"):
            self._trigger(scenario)
        for platform, dag_id in MAPPED.items():
            if MAPPED_FILES[platform] in errors:
                self.mapped_import_errors[platform] = errors[MAPPED_FILES[platform]]
                continue
            dep.unpause(dag_id)
            self.mapped_runs[platform] = dep.trigger(dag_id, f"s4-{platform}-{tag}")
        dep.trigger(QUICK, self.quick_run)
        self._start("driver", self._drive)
        self._start("links", self._watch_links)
        self._start("monitor", self._monitor)

    def stop(self) -> None:
        self._stopping.set()

    def _trigger(self, scenario: str) -> None:
        for platform in PLATFORMS:
            run = self.run(scenario, platform)
            conf = {"lines": run.lines, "sleep": SIZES[scenario]["sleep"], "token": run.token}
            self.dep.trigger(run.dag_id, run.run_id, conf)

    def _start(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException:
                self.failures[name] = traceback.format_exc()

        self.threads[name] = thread = threading.Thread(target=guarded, name=f"campaign-{name}", daemon=True)
        thread.start()

    def wait_thread(self, name: str, timeout: float) -> None:
        """Wait for one of the campaign's threads; raise what it failed with."""
        self.threads[name].join(timeout)
        assert not self.threads[name].is_alive(), (
            f"the campaign's {name} thread is still running after {timeout} s"
        )
        assert name not in self.failures, f"the campaign's {name} thread failed:\n{self.failures[name]}"

    def wait_phase(self, name: str, timeout: float) -> None:
        """Wait until the driver has done a scenario's disruptions; raise what the driver failed with."""
        deadline = time.monotonic() + timeout
        while not self.phases[name].wait(1):
            assert "driver" not in self.failures, (
                f"the campaign's driver failed before finishing {name}:\n{self.failures['driver']}"
            )
            assert time.monotonic() < deadline, (
                f"the campaign's driver has not finished {name} after {timeout} s"
            )

    # ---- waits ----------------------------------------------------------------------------------
    def wait_following(self, run: Run, timeout: float = 300) -> tuple[int, int | None] | None:
        """Until the run's task is deferred, its trigger assigned and the job's lines in its logs; None (and
        the reason in ``not_disrupted``) if the task ended first."""
        dep = self.dep

        def following() -> tuple[int, int | None] | str | None:
            row = dep.trigger_row(run.ti)
            if row is None or row[1] is None:
                state = dep.ti_state(run.ti)
                return (
                    f"the task ended {state} before it could be disrupted" if state in TERMINAL_TI else None
                )
            printed = dep.count_lines(run.ti, run.token, run.lines).by_file
            by_triggers = sum(n for name, n in printed.items() if ".trigger." in name)
            return row if by_triggers >= LINES_BEFORE_DISRUPTION else None

        found = wait_for(
            f"{run.ti} to be deferred, its trigger assigned and >= {LINES_BEFORE_DISRUPTION} lines logged by it",
            following,
            timeout,
            context=lambda: dep.context(run.dag_id, run.run_id),
        )
        if isinstance(found, str):
            self.not_disrupted[str(run.ti)] = found
            report(run.scenario, f"{run.ti}: not disrupted: {found}")
            return None
        return found

    def wait_ended(self, what: str, runs: list[tuple[str, str]]) -> None:
        """Until every (dag_id, run_id) has ended."""
        dep = self.dep
        wait_for(
            what,
            lambda: all(dep.dag_run(dag_id, run_id)["state"] in TERMINAL_RUN for dag_id, run_id in runs),
            RUN_WAIT,
            interval=2,
            context=dep.context,
        )

    # ---- the driver: one disruption at a time ----------------------------------------------------
    def _drive(self) -> None:
        self._user_kills()
        self.phases["s2"].set()
        mapped = [(MAPPED[p], run_id) for p, run_id in self.mapped_runs.items()]
        self.wait_ended(
            "the mapped and quick runs (no trigger of theirs may be disrupted)",
            [*mapped, (QUICK, self.quick_run)],
        )
        self._trigger("s1")
        s1 = [self.run("s1", p) for p in PLATFORMS]
        self._reassign(s1, "SIGSTOP")
        self.phases["s1"].set()
        if not self.sigkill:
            self.phases["s5"].set()
            return
        self._trigger("s5")
        s5 = [self.run("s5", p) for p in PLATFORMS]
        for run in s5:
            self.wait_following(run)
        self.wait_ended(
            "scenario 1's runs (a SIGKILL must not touch them)", [(r.dag_id, r.run_id) for r in s1]
        )
        self._reassign(s5, "SIGKILL")
        self.phases["s5"].set()

    def _user_kills(self) -> None:
        """Scenario 2: mark each deferred task failed through the REST API."""
        for platform in PLATFORMS:
            run = self.run("s2", platform)
            if self.wait_following(run) is None:
                continue
            self.dep.api("PATCH", run.ti.path, {"new_state": "failed"})
            self.kills[platform] = time.time()
            report("s2", f"{run.ti}: marked failed through the REST API while deferred")

    def _reassign(self, runs: list[Run], kind: str) -> None:
        """SIGSTOP (until another triggerer holds the trigger, then SIGCONT) or SIGKILL (then restart) the
        triggerer holding each run's trigger, until every run's trigger has moved at least once."""
        stack = self.dep.stack
        moved: set[TI] = set()
        for run in runs:
            if run.ti in moved:
                continue
            row = self.wait_following(run)
            if row is None:
                continue
            holder = row[1]
            assert holder is not None
            name = stack.triggerer_of_job(holder)
            assert name, f"triggerer job {holder} is none of ours ({stack.triggerer_jobs})"
            # Every deferred run of the campaign on that triggerer moves; all are recorded.
            on_holder = [
                r for r in self.runs.values() if (row := self.dep.trigger_row(r.ti)) and row[1] == holder
            ]
            event = Disruption(kind, name, holder, time.time())
            for other in on_holder:
                event.at_line[str(other.ti)] = len(
                    self.dep.count_lines(other.ti, other.token, other.lines).counts
                )
            stack.signal(name, signal.SIGSTOP if kind == "SIGSTOP" else signal.SIGKILL)
            try:
                self._wait_moved(event, on_holder, run)
            finally:
                if kind == "SIGSTOP":
                    stack.signal(name, signal.SIGCONT)
                else:
                    stack.start_triggerer(name)  # a new job: HA again before the next disruption
                event.ended = time.time()
                self.disruptions.append(event)
            moved.update(r.ti for r in on_holder)
            report(
                run.scenario,
                f"{kind} {name} (job {holder}) for {event.ended - event.started:.0f} s: "
                + ", ".join(
                    f"{ti} (at line {event.at_line.get(ti)}) -> job {job}" for ti, job in event.moved.items()
                ),
            )
            if kind == "SIGSTOP":  # the resumed triggerer drops its copies now (on_kill, in 3.3.2)
                time.sleep(HEALTH_THRESHOLD / 3)

    def _wait_moved(self, event: Disruption, on_holder: list[Run], run: Run) -> None:
        """Until none of these runs' triggers is on the disrupted triggerer any more (or has ended)."""
        dep = self.dep

        def gone_elsewhere() -> bool:
            for other in on_holder:
                now = dep.trigger_row(other.ti)
                if now is not None and (now[1] is None or now[1] == event.job):
                    return False
                event.moved[str(other.ti)] = None if now is None else now[1]
            return True

        wait_for(
            f"the triggers of {[str(r.ti) for r in on_holder]} to leave {event.triggerer} (job {event.job}) "
            f"after {event.kind}",
            gone_elsewhere,
            timeout=HEALTH_THRESHOLD * 3 + 30,
            context=lambda: dep.context(run.dag_id, run.run_id),
        )

    def forced(self, run: Run) -> list[Disruption]:
        """The disruptions that moved this run's trigger while its job had lines left to print."""
        return [
            d
            for d in self.disruptions
            if str(run.ti) in d.moved and d.at_line.get(str(run.ti), run.lines) <= run.lines - LINES_LEFT
        ]

    # ---- scenario 6: the extra link while the blocking tasks run ----------------------------------
    def _watch_links(self) -> None:
        dep = self.dep
        pending = {p: self.run("s6", p) for p in PLATFORMS}
        deadline = time.monotonic() + RUN_WAIT
        while pending and time.monotonic() < deadline and not self._stopping.is_set():
            for platform, run in list(pending.items()):
                state = dep.ti_state(run.ti)
                if state in TERMINAL_TI:
                    self.link_samples[platform].append({"ti": state, "links": dep.links(run.ti), "job": None})
                    del pending[platform]
                    continue
                if state != "running":
                    continue
                jobs = dep.emu.tione_tasks(run.token) if platform == "tione" else dep.emu.tia_jobs(run.token)
                if not jobs:
                    continue
                job = jobs[0].get("Status") or jobs[0].get("State")
                links = dep.links(run.ti)
                self.link_samples[platform].append({"ti": dep.ti_state(run.ti), "links": links, "job": job})
            time.sleep(1.5)

    # ---- the triggerers' heartbeats -----------------------------------------------------------------
    def _monitor(self) -> None:
        while not self._stopping.wait(2):
            for job, age in self.dep.triggerer_heartbeat_ages():
                self.heartbeats.append((time.time(), job, age))

    def heartbeat_report(self) -> dict[int, str]:
        """The longest heartbeat age seen per triggerer job, leaving out when the harness had paused or killed
        that job (until it could have heartbeated again; a SIGKILLed job never does), with when it was seen
        (seconds after the launch) and whether another triggerer was being disrupted then."""
        worst: dict[int, tuple[float, float]] = {}
        for when, job, age in self.heartbeats:
            disrupted = any(
                d.job == job
                and d.started - 1 <= when
                and (d.kind == "SIGKILL" or when <= d.ended + HEALTH_THRESHOLD)
                for d in self.disruptions
            )
            if not disrupted and age > worst.get(job, (0.0, 0.0))[0]:
                worst[job] = (age, when)
        found = {}
        for job, (age, when) in worst.items():
            other = [d for d in self.disruptions if d.started - 1 <= when <= d.ended + 2]
            during = f", during the {other[0].kind} of job {other[0].job}" if other else ""
            found[job] = f"{age:.1f} s at launch+{when - self.launched:.0f} s{during}"
        return found
