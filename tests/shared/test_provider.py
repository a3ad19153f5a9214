"""Registration with Airflow (providers manager, CLI) and cheap DAG-parse imports."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from airflow_provider_tia import get_provider_info
from tests.helpers.support import ROOT

PROBE = r"""
import importlib.util, json
import airflow
# Before HookMetaService mocks them into sys.modules: could this API server build a hook's form itself?
form_packages = all(importlib.util.find_spec(p) for p in ("wtforms", "flask_appbuilder"))
from airflow.providers_manager import ProvidersManager
pm = ProvidersManager()
try:  # Airflow 3: what the API server gives the UI's connection form
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    _, widgets, behaviours = HookMetaService._get_hooks_with_mocked_fab()
except ImportError:  # Airflow 2: the webserver's form reads the providers manager
    widgets, behaviours = pm.connection_form_widgets, pm.field_behaviours
out = {
    "airflow": airflow.__version__,
    "form_packages": form_packages,
    "providers": sorted(pm.providers),
    "hook": pm.hooks["tencentcloud"].hook_class_name if pm.hooks.get("tencentcloud") else None,
    "behaviour": behaviours.get("tencentcloud"),
    "widgets": sorted(k for k in widgets if "tencentcloud" in k),
    "fields": {w.field_name: w.field for k, w in widgets.items() if "tencentcloud" in k},
    "sensitive": sorted(k for k, w in widgets.items() if "tencentcloud" in k
                        and (getattr(w, "is_sensitive", False) or "Password" in type(w.field).__name__)),
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
    assert "airflow-provider-tia" in info["triggers"]
    assert "airflow_provider_tia.links.tia.TIAJobLink" in info["links"]
    if info["airflow"].startswith("3.0.") and not info["form_packages"]:
        # docs/install.md: 3.0's API server builds a hook's form fields only where it can import WTForms and
        # FAB; without them the form is Airflow's generic one (region, endpoint, token go in Extra).
        assert info["behaviour"] is None and info["widgets"] == []
        return
    behaviour = info["behaviour"]
    assert behaviour["relabeling"] == {"login": "SecretId", "password": "SecretKey"}
    assert "host" in behaviour["hidden_fields"]
    fields = ("cos_endpoint", "endpoint", "region", "token")
    assert info["widgets"] == [f"extra__tencentcloud__{f}" for f in fields]
    assert info["sensitive"] == ["extra__tencentcloud__token"]
    # The form's placeholder and suggestions for a custom field come from its schema's examples.
    fields = info["fields"]
    if isinstance(fields["region"], dict):  # Airflow 3.2+: the declarative conn-fields
        assert "ap-beijing" in fields["region"]["schema"]["examples"]
        assert "http://127.0.0.1:9000" in fields["endpoint"]["schema"]["examples"]
        assert fields["token"]["schema"]["format"] == "password"
        assert set(behaviour["placeholders"]) == {"login", "password"}
    else:  # older: get_connection_form_widgets' fields, a field's first example as its placeholder
        assert behaviour["placeholders"]["extra__tencentcloud__region"] == "ap-beijing"
        assert behaviour["placeholders"]["extra__tencentcloud__endpoint"] == "tia.tencentcloudapi.com"


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
        "from airflow_provider_tia.compat import BaseOperator, BaseSensorOperator\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_tia.operators.tia, airflow_provider_tia.sensors.tia\n"
        "new = set(sys.modules) - before\n"
        "heavy = sorted(m for m in new if m.startswith(('tencentcloud', 'httpx', 'starlette', 'uvicorn',"
        " 'airflow_provider_tia.emulator', 'sklearn', 'requests')))\n"
        "print('HEAVY', heavy)\n"
    )
    out = _run([sys.executable, "-c", code])
    assert "HEAVY []" in out, out


def readme_commands(marker: str) -> list[list[str]]:
    """The `airflow ...` commands of the README's bash block containing ``marker``."""
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if marker in b)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("  #", 1)[0].strip()
        if "airflow " in line:
            env, _, command = line.partition("airflow ")
            commands.append([*shlex.split(env), *shlex.split(command)])
    return commands


def test_readme_emulator_connection_commands_work(airflow_db, tia_emulator) -> None:
    """The README's `airflow connections add` / `test` for the emulator, run as written (port aside)."""
    commands = readme_commands("AKIDemulator --conn-password")
    assert [c[:2] for c in commands] == [
        ["connections", "add"],
        ["AIRFLOW__CORE__TEST_CONNECTION=Enabled", "connections"],
    ]
    conn_id = "readme_emulator"  # not tencentcloud_default: other tests must not find it in the DB
    env = os.environ.copy()
    env.pop("AIRFLOW_CONN_TENCENTCLOUD_DEFAULT", None)
    try:
        for command in commands:
            assignments = [c for c in command if re.fullmatch(r"[A-Z_]+=.*", c)]
            args = [
                a.replace("tencentcloud_default", conn_id).replace("http://127.0.0.1:9000", tia_emulator.url)
                for a in command[len(assignments) :]
            ]
            run_env = {**env, **dict(a.split("=", 1) for a in assignments)}
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                capture_output=True,
                text=True,
                env=run_env,
                timeout=240,
            )
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "Connection success!" in result.stdout, result.stdout[-2000:]
    finally:
        subprocess.run(
            [sys.executable, "-m", "airflow", "connections", "delete", conn_id], capture_output=True, env=env
        )
