"""``python -m airflow_provider_tia.emulator``: run the TI-A emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

STOP_DEADLINE = 8.0  # seconds: stop() normally takes about kill_grace; past this the process exits anyway


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m airflow_provider_tia.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    p.add_argument("--secret-id", default="AKIDemulator")
    p.add_argument("--secret-key", default="emulator-secret")
    p.add_argument(
        "--token", default=None, help="make the credential temporary: requests must send this token"
    )
    p.add_argument("--runner", choices=("local", "simulated"), default="local")
    p.add_argument("--faults", default=None, help='e.g. "DescribeJob:RequestLimitExceeded=0.1;*:drop=0.01"')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--state-dir", default=None, help="persist jobs, logs and outputs here")
    p.add_argument("--sim-duration", type=float, default=1.0, help="simulated runner: seconds per job")
    p.add_argument(
        "--cos-endpoint",
        default=None,
        metavar="URL",
        help="local runner: fetch cos:// PackageDir entries from this S3-compatible endpoint",
    )
    p.add_argument(
        "--cos-access-key", default=None, help="access key for --cos-endpoint (default: --secret-id)"
    )
    p.add_argument(
        "--cos-secret-key", default=None, help="secret key for --cos-endpoint (default: --secret-key)"
    )
    p.add_argument(
        "--query-logs-zone",
        choices=("+08:00", "utc"),
        default="+08:00",
        help="how QueryLogs reads StartTime/EndTime (default +08:00)",
    )
    p.add_argument(
        "--max-replicas", type=int, default=None, help="local runner: processes per job (default 64)"
    )
    p.add_argument(
        "--max-running-jobs",
        type=int,
        default=None,
        help="local runner: jobs running at once, the rest wait in Created (default 16)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print where it listens, stop cleanly on SIGINT/SIGTERM."""
    args = build_parser().parse_args(argv)
    from .server import TIAEmulator

    try:
        emu = TIAEmulator(
            secret_id=args.secret_id,
            secret_key=args.secret_key,
            token=args.token,
            runner=args.runner,
            faults=args.faults,
            seed=args.seed,
            state_dir=args.state_dir,
            host=args.host,
            port=args.port,
            sim_duration=args.sim_duration,
            cos_endpoint=args.cos_endpoint,
            cos_access_key=args.cos_access_key,
            cos_secret_key=args.cos_secret_key,
            query_logs_zone=args.query_logs_zone,
            max_replicas=args.max_replicas,
            max_running=args.max_running_jobs,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emu.start()
    print(
        f"TI-A and TI-ONE emulator listening on {emu.url.rstrip('/')} (runner={emu.runner.name})", flush=True
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        watchdog = threading.Timer(STOP_DEADLINE, os._exit, (1,))  # whatever hangs, the process ends
        watchdog.daemon = True
        watchdog.start()
        emu.stop()
        print("TI-A emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
