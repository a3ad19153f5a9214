"""Browser tests need Debian's chromium and playwright; they run only when asked for: `pytest -m ui tests/ui`.

Asked for but missing what they need, they fail (so CI cannot pass them by skipping); not asked for
(`make test`), they are skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ui: headless-browser test of `make ui` (needs chromium, playwright)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ui") is None:
        return
    if "ui" not in (item.config.getoption("markexpr") or ""):
        pytest.skip("browser test: run it with `pytest -m ui tests/ui`")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    if importlib.util.find_spec("playwright") is None:
        pytest.fail(
            "playwright is missing: uv pip install playwright (no browser download needed)", pytrace=False
        )
