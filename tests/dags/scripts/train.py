"""Tiny training script for the DAG tests: prints numbered lines, then exits 0 or 1.

Usage: python train.py --lines 3 --sleep 0.2 [--fail] [--fail-once MARKER] [--token T]
"""

import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail", default="false")
parser.add_argument("--fail-once", default="")
parser.add_argument("--token", default="tok")
opts = parser.parse_args()
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
if not task and "RANK" in os.environ:  # TI-ONE DDP: rank 0 plays the master
    task = {"type": "master" if os.environ["RANK"] == "0" else "worker", "index": os.environ["RANK"]}
role = f"{task.get('type', 'master')}{task.get('index', 0)}"
for i in range(opts.lines):
    print(f"{opts.token} {role} step {i}", flush=True)
    time.sleep(opts.sleep)
master = task.get("type", "master") == "master"
if master and json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker"):
    time.sleep(1.5)  # let the workers write their lines: the service stops them when the master ends
if master and opts.fail_once and not os.path.exists(opts.fail_once):
    open(opts.fail_once, "w").close()
    print(f"{opts.token} {role} failing once: loss is nan", flush=True)
    sys.exit(1)
if master and opts.fail.lower() == "true":
    print(f"{opts.token} {role} error: loss is nan", flush=True)
    sys.exit(1)
print(f"{opts.token} {role} done", flush=True)
