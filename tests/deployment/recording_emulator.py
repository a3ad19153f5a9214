"""The emulator (``python -m airflow_provider_tia.emulator``, same options) writing every call that changes
something (not Describe*/Query*/List*/Get*) to ``$TIA_EMULATOR_CALLS`` as JSON lines
``{"t": epoch, "action": ..., "params": {...}}``, so a test in another process can tell whether a job was
ever stopped or deleted, and by whom it was created.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from airflow_provider_tia.emulator import __main__ as emulator_main
from airflow_provider_tia.emulator import server

READS = ("Describe", "Query", "List", "Get")


class RecordingHistory(server.RequestHistory):
    """The emulator's request history, also appending the changing calls to a file."""

    _file_lock = threading.Lock()

    def append(self, item: tuple[str, dict]) -> None:
        super().append(item)
        action, params = item
        path = os.environ.get("TIA_EMULATOR_CALLS")
        if path and not action.startswith(READS):
            line = json.dumps({"t": time.time(), "action": action, "params": params}, default=str)
            with self._file_lock, open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")


server.RequestHistory = RecordingHistory  # type: ignore[misc]  # TIAEmulator builds its history from it

if __name__ == "__main__":
    sys.exit(emulator_main.main())
