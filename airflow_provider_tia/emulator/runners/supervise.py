"""Replica supervisor: run one command so that nothing it starts outlives it (stdlib only, run by path).

``python -I supervise.py <grace seconds> -- <absolute program> [args...]``

On Linux the supervisor makes itself a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``): a process the
command detaches (``setsid``, double fork) is re-parented to the supervisor instead of init, so the
supervisor's process tree always holds everything the replica started. When the command exits, or when the
supervisor gets SIGTERM/SIGINT/SIGHUP, every remaining descendant gets SIGTERM, and SIGKILL after ``grace``
seconds. The supervisor then exits as the command did (same code, or killed by the same signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the kernel or libc does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Live (non-zombie) descendants of ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _reap(statuses: dict[int, int]) -> None:
    """Collect every exited child (adopted orphans included) without blocking."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = status


def end_all(grace: float, statuses: dict[int, int]) -> None:
    """SIGTERM every descendant once, SIGKILL whatever is left after ``grace``; returns when none is left."""
    deadline = time.monotonic() + grace
    termed: set[int] = set()
    empty_scans = 0
    while True:
        _reap(statuses)
        pids = descendants(os.getpid())
        # A process whose parent just exited may be read from /proc before the kernel hands it to us:
        # only two empty scans in a row mean nothing is left.
        empty_scans = 0 if pids else empty_scans + 1
        if empty_scans >= 2:
            return
        late = time.monotonic() >= deadline
        for pid in pids:
            if late or pid not in termed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
                termed.add(pid)
        time.sleep(0.02)


def _next_signal(timeout: float) -> int | None:
    """The next of the blocked STOP_SIGNALS/SIGCHLD, or None after ``timeout`` seconds."""
    wanted = STOP_SIGNALS | {signal.SIGCHLD}
    if hasattr(signal, "sigtimedwait"):
        info = signal.sigtimedwait(wanted, timeout)
        return info.si_signo if info is not None else None
    deadline = time.monotonic() + timeout  # no sigtimedwait (macOS): look at the pending set
    while time.monotonic() < deadline:
        pending = signal.sigpending() & STOP_SIGNALS
        if pending:
            return int(next(iter(pending)))
        time.sleep(0.02)
    return None


def main(argv: list[str]) -> int:
    """Run the command, end its whole tree, exit like it.

    The stop signals and SIGCHLD stay blocked and are taken with sigtimedwait, so no signal can interrupt
    the cleanup half-way; the command starts with an empty signal mask.
    """
    if len(argv) < 4 or argv[2] != "--":
        print("usage: supervise.py <grace seconds> -- <program> [args...]", file=sys.stderr)
        return 2
    grace, command = float(argv[1]), argv[3:]
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS | {signal.SIGCHLD})
    become_subreaper()
    statuses: dict[int, int] = {}
    try:
        # Python ignores SIGPIPE and SIGXFSZ; the command gets the default dispositions back.
        child = os.posix_spawn(
            command[0], command, os.environ, setsigmask=(), setsigdef=(signal.SIGPIPE, signal.SIGXFSZ)
        )
    except OSError as exc:
        print(f"tia emulator: cannot start {command[0]!r}: {exc}", file=sys.stderr, flush=True)
        return 127
    while True:
        _reap(statuses)
        if child in statuses or _next_signal(1.0) in STOP_SIGNALS:
            break
    end_all(grace, statuses)
    code = os.waitstatus_to_exitcode(statuses[child]) if child in statuses else -signal.SIGTERM
    if code < 0:  # die of the same signal, so the emulator reports "killed by signal N"
        signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
        os.kill(os.getpid(), -code)
        time.sleep(1)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
