"""Reliability suite: a session-wide results registry printed as a table at the end of the run.

Every scenario records one row (``reliability_results.record(...)``) *before* asserting its zero
figures, so the table shows the real numbers even when a test fails.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

COLUMNS = (
    ("scenario", "scenario"),
    ("jobs", "jobs"),
    ("faults", "faults injected"),
    ("false_failures", "false failures"),
    ("duplicates", "duplicates"),
    ("lost_lines", "lost lines"),
    ("leaked_secrets", "leaked secrets"),
)


@dataclasses.dataclass
class Row:
    scenario: str
    jobs: int
    faults: int = 0
    false_failures: int = 0
    duplicates: int = 0
    lost_lines: int = 0
    leaked_secrets: int = 0


class Results:
    """Rows of the reliability table, one per scenario (a re-recorded scenario replaces its row)."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def record(self, scenario: str, jobs: int, **figures: int) -> Row:
        row = Row(scenario, jobs, **figures)
        self.rows[scenario] = row
        return row

    def table(self) -> list[str]:
        cells = [[label for _, label in COLUMNS]]
        cells += [[str(getattr(row, attr)) for attr, _ in COLUMNS] for row in self.rows.values()]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

        def fmt(line: list[str]) -> str:
            return (
                "| "
                + " | ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(line, widths, strict=True))
                )
                + " |"
            )

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return [fmt(cells[0]), rule, *(fmt(line) for line in cells[1:])]


RESULTS = Results()


@pytest.fixture(scope="session")
def reliability_results() -> Results:
    return RESULTS


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001 - pytest hook
    if not RESULTS.rows:
        return
    terminalreporter.section("TI-A and TI-ONE reliability")
    for line in RESULTS.table():
        terminalreporter.write_line(line)


@pytest.fixture
def trigger_xcoms():
    """The XComs triggers read and write (their log checkpoints), kept across triggerer restarts."""
    from tests.helpers.reliability import triggerer_comms

    with triggerer_comms() as comms:
        yield comms


class LogRecords(logging.Handler):
    """Every record of a logger, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@pytest.fixture
def sdk_records():
    """The SDK's DEBUG log (every request and reply) during the test."""
    from airflow_provider_tia.secrets import SDK_LOGGER

    records, logger = LogRecords(), logging.getLogger(SDK_LOGGER)
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(records)
    logger.setLevel(logging.NOTSET)
