"""Every bound the emulator puts on what one request can make it allocate or start, in one place.

A request beyond a request bound gets ``InvalidParameterValue`` naming the parameter and the bound.
"""

from __future__ import annotations

MAX_BODY_BYTES = 256 * 1024  # request body, and the query string of a GET
MAX_NAME_CHARS = 63  # Name, Cluster, JobName: pod names are built from them (Kubernetes label length)
MAX_STRING_CHARS = 4096  # any other string parameter, and each item of a list
MAX_LIST_ITEMS = 256  # PackageDir, Command, Args, RuntimeConf
MAX_REPLICA_COUNT = 1000  # WorkerCount, ParameterServerCount
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # any other Integer (the service is written in Go)
MAX_ACTION_CHARS = 64  # longer Action names are refused before they are counted
MAX_COUNTED_ACTIONS = 1000  # distinct unknown Action names kept in TIAEmulator.calls

MAX_SIM_LOG_LINES = 1_000_000  # simulated runner: RuntimeConf sim.log_lines
SIM_LOG_PODS = 64  # simulated runner: pods that write log lines (master and the first workers)

LOCAL_MAX_REPLICAS = 64  # local runner default: processes per job
LOCAL_MAX_RUNNING_JOBS = 16  # local runner default: jobs running at once; the rest wait in Created
MAX_LOG_LINE_BYTES = 16 * 1024  # local runner: a longer output line is split
MAX_LOG_LINES_PER_JOB = 1_000_000  # lines kept per job; later ones are dropped (one line says so)
MAX_LINES_PER_WINDOW = (
    10_000  # log lines served per time window, whatever the paging (QueryLogs, DescribeLogs)
)
