"""`make bench`: run every benchmark in turn and print their tables and RESULT lines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine  # noqa: E402

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_parse.py", "bench_calls.py", "bench_logs.py", "bench_triggers.py", "bench_service_waits.py"]


def main() -> int:
    print(f"# airflow-provider-tia benchmarks on {machine()}\n")
    failed = []
    started = time.monotonic()
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        begun = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith(("#", "|", "RESULT"))]
        print("\n".join(lines))
        print(f"({script}: {time.monotonic() - begun:.0f} s)\n")
        if result.returncode:
            failed.append(script)
            print(result.stderr[-3000:], file=sys.stderr)
    print(f"all benchmarks: {time.monotonic() - started:.0f} s" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
