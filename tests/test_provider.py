"""Registration with Airflow (providers manager, CLI) and cheap DAG-parse imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_tia import get_provider_info

PROBE = r"""
import json
from airflow.providers_manager import ProvidersManager
pm = ProvidersManager()
out = {
    "providers": sorted(pm.providers),
    "hook": pm.hooks["tencentcloud"].hook_class_name if pm.hooks.get("tencentcloud") else None,
    "behaviour": pm.field_behaviours.get("tencentcloud"),
    "widgets": sorted(k for k in pm.connection_form_widgets if "tencentcloud" in k),
    "sensitive": sorted(k for k, w in pm.connection_form_widgets.items()
                        if "tencentcloud" in k and getattr(w, "is_sensitive", False)),
    "triggers": sorted(t.package_name for t in pm.trigger),
    "links": sorted(pm.extra_links_class_names),
}
print("PROBE" + json.dumps(out, default=str))
"""


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy(), timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_providers_manager_registers_everything() -> None:
    out = _run([sys.executable, "-c", PROBE])
    info = json.loads(out.split("PROBE", 1)[1])
    assert "airflow-provider-tia" in info["providers"]
    assert info["hook"] == "airflow_provider_tia.hooks.tia.TIAHook"
    behaviour = info["behaviour"]
    assert behaviour["relabeling"] == {"login": "SecretId", "password": "SecretKey"}
    assert "host" in behaviour["hidden_fields"]
    assert info["widgets"] == [f"extra__tencentcloud__{f}" for f in ("endpoint", "region", "scheme", "token")]
    assert info["sensitive"] == ["extra__tencentcloud__token"]
    assert "airflow-provider-tia" in info["triggers"]
    assert "airflow_provider_tia.links.tia.TIAJobLink" in info["links"]


def test_cli_shows_the_provider() -> None:
    out = _run([sys.executable, "-m", "airflow", "providers", "get", "airflow-provider-tia"])
    assert "airflow-provider-tia" in out and "0.1.0" in out


def test_provider_info_names_existing_classes() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for e in info[key]
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for path in info["extra-links"] + [c["hook-class-name"] for c in info["connection-types"]]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_dag_parse_imports_stay_light() -> None:
    """Importing our operators/sensors loads no SDK, HTTP server or emulator beyond what Airflow loads."""
    code = (
        "import sys\n"
        "import airflow.sdk\n"
        "from airflow.sdk import BaseOperator, BaseSensorOperator\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_tia.operators.tia, airflow_provider_tia.sensors.tia\n"
        "new = set(sys.modules) - before\n"
        "heavy = sorted(m for m in new if m.startswith(('tencentcloud', 'httpx', 'starlette', 'uvicorn',"
        " 'airflow_provider_tia.emulator', 'sklearn', 'requests')))\n"
        "print('HEAVY', heavy)\n"
    )
    out = _run([sys.executable, "-c", code])
    assert "HEAVY []" in out, out
