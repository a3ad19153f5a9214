"""The deployment tests' training script: numbered lines, so lost and repeated lines can be counted.

Usage: python counted.py --lines 45 --sleep 2 --token s1-tione-ab12  ->  "s1-tione-ab12 line 0001/0045" ...
"""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--token", default="tok")
opts = parser.parse_args()
for i in range(1, opts.lines + 1):
    print(f"{opts.token} line {i:04d}/{opts.lines:04d}", flush=True)
    if i < opts.lines:
        time.sleep(opts.sleep)
print(f"{opts.token} done", flush=True)
