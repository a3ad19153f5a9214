"""What the deployment DAGs share: where the training script is, and one TI-ONE and one TI-A task factory.

Not a DAG file (its name starts with "_"): the DAG files import it from the DAGs folder (linked there too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
BUCKET = "tione-demo-1250000000"  # the bucket UIStack creates in its COS (moto)
START = "python counted.py --lines {lines} --sleep {sleep} --token {token}"


def tione_kwargs(lines: Any, sleep: Any, token: Any, **extra: Any) -> dict[str, Any]:
    """A one-worker TI-ONE training task running counted.py, its code staged to COS."""
    return {
        "charge_type": "POSTPAID_BY_HOUR",
        "resource_config_infos": [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        "code_dir": SCRIPTS,
        "code_bucket": BUCKET,
        "start_cmd": START.format(lines=lines, sleep=sleep, token=token),
        **extra,
    }


def tia_kwargs(lines: Any, sleep: Any, token: Any, **extra: Any) -> dict[str, Any]:
    """A one-replica TI-A job running counted.py from a local PackageDir."""
    return {
        "cluster": "ap-beijing",
        "runtime_version": "tia-1.7.0",
        "package_dir": [SCRIPTS],
        "command": ["python"],
        "args": ["counted.py", "--lines", str(lines), "--sleep", str(sleep), "--token", str(token)],
        **extra,
    }
