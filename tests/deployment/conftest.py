"""The production-like stack tests run only when asked for: `make test-deployment` (`pytest -m deployment
tests/deployment`). Asked for but missing PostgreSQL or its driver, they fail (CI cannot pass them by
skipping); not asked for (`make test`), they are skipped. Their figures are printed at the end.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.deployment.stack import REPORT, run_ui


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deployment: the production-like stack (PostgreSQL, two triggerers); `make test-deployment`",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("deployment") is None:
        return
    if "deployment" not in (item.config.getoption("markexpr") or ""):
        pytest.skip("production-like stack test: run it with `make test-deployment`")
    try:
        run_ui.postgres_bindir()
    except run_ui.StackError as error:
        pytest.fail(str(error), pytrace=False)
    if importlib.util.find_spec("psycopg2") is None or importlib.util.find_spec("asyncpg") is None:
        pytest.fail(
            "Airflow's PostgreSQL drivers are missing: `make test-deployment` installs them", pytrace=False
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT:
        return
    terminalreporter.section("deployment figures")
    for scenario, lines in REPORT.items():
        for line in lines:
            terminalreporter.write_line(f"[{scenario}] {line}")
