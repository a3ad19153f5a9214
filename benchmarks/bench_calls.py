"""Call overhead: signed DescribeJob through TIAHook vs a raw httpx POST of the same body.

Both go to the same emulator (its own process), interleaved call by call, keep-alive on both sides.
Two raw baselines: the unsigned POST the issue asks for (the emulator answers it with a short
AuthFailure, so it does less server work than a real DescribeJob), and the same POST signed once with
the emulator's own TC3 code and replayed (valid for 5 minutes): identical server work, so that ratio
is the client's overhead alone. The raw signed client's rate is the emulator's DescribeJob throughput.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import emulator_process  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))


def main() -> None:
    import httpx

    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.models.tia.job_spec import JobSpec

    with emulator_process("--runner", "simulated", "--sim-duration", "3600") as (port, _):
        hook = TIAHook("tia_bench")
        hook.create_job(JobSpec(name="bench-job", cluster="ap-beijing", runtime_version="tia-1.7.0"))
        body = json.dumps({"Name": "bench-job", "Cluster": "ap-beijing"})
        headers = {
            "Content-Type": "application/json",
            "X-TC-Action": "DescribeJob",
            "X-TC-Version": "2018-02-26",
            "X-TC-Region": "ap-beijing",
            "X-TC-Timestamp": str(int(time.time())),
        }
        signed = {**headers, "Authorization": presign(body, headers, f"127.0.0.1:{port}")}
        raw = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        assert "Job" in raw.post("/", content=body, headers=signed).json()["Response"]
        clients = {
            "TIAHook (signed by the SDK)": lambda: hook.describe_job("bench-job", "ap-beijing"),
            "raw httpx POST, unsigned": lambda: raw.post("/", content=body, headers=headers),
            "raw httpx POST, pre-signed": lambda: raw.post("/", content=body, headers=signed),
        }
        times: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(50):  # warm every path
            for call in clients.values():
                call()
        for _ in range(CALLS):
            for name, call in clients.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
        raw.close()
    totals = {name: sum(values) for name, values in times.items()}
    print(f"## Call overhead ({CALLS} DescribeJob calls each, interleaved)")
    print("| client | total s | median ms | calls/s |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(
            f"| {name} | {totals[name]:.2f} | {statistics.median(values) * 1000:.2f} | {CALLS / totals[name]:.0f} |"
        )
    hook_total = totals["TIAHook (signed by the SDK)"]
    print(
        f"RESULT call_overhead hook / raw unsigned = {hook_total / totals['raw httpx POST, unsigned']:.2f}x"
        " (target < 1.3x)"
    )
    print(
        f"RESULT call_overhead hook / raw pre-signed (same server work) = "
        f"{hook_total / totals['raw httpx POST, pre-signed']:.2f}x"
    )
    print(
        f"RESULT emulator_describe_rps (one client, pre-signed) = {CALLS / totals['raw httpx POST, pre-signed']:.0f}"
    )
    print(f"RESULT hook_clients_built = {1 if 'client' in hook.__dict__ else 0} for {CALLS + 50} calls")


def presign(body: str, headers: dict[str, str], host: str) -> str:
    """A TC3 Authorization header made once by the emulator's own (independent) implementation."""
    import datetime

    from _common import SECRET_ID, SECRET_KEY

    from airflow_provider_tia.emulator.core.auth import tc3_canonical_request, tc3_signature

    timestamp = headers["X-TC-Timestamp"]
    date = datetime.datetime.fromtimestamp(int(timestamp), datetime.timezone.utc).strftime("%Y-%m-%d")
    canonical = tc3_canonical_request(
        "POST",
        "/",
        "",
        {"content-type": headers["Content-Type"], "host": host},
        ["content-type", "host"],
        body.encode(),
    )
    signature = tc3_signature(SECRET_KEY, date, "tia", timestamp, canonical)
    return (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/tia/tc3_request, SignedHeaders=content-type;host, "
        f"Signature={signature}"
    )


if __name__ == "__main__":
    main()
