"""The words a DAG author chooses from: ``EndAction`` (``on_kill_action``, ``on_timeout``) and
``IfExists`` (``if_exists``).

They live apart from the engines that act on them (``ending``, ``lifecycle``) because an operator
checks them in ``__init__``, which runs on every parse of a DAG file, while the engines are needed
only when a task runs.
"""

from __future__ import annotations

import enum


class EndAction(str, enum.Enum):
    """What ending a job (``on_kill_action``, ``on_timeout``) does: stop it (its record stays), delete it,
    leave it running, or, for a service rollout, roll it back to the configuration read before. Each
    operator names the ones it can do (``END_ACTIONS``, its default first)."""

    STOP = "stop"
    DELETE = "delete"
    LEAVE = "leave"
    ROLLBACK = "rollback"

    @property
    def past(self) -> str:
        return {"stop": "stopped", "delete": "deleted", "leave": "left running", "rollback": "rolled back"}[
            self.value
        ]

    @property
    def doing(self) -> str:
        return {"stop": "stopping", "delete": "deleting", "leave": "leaving", "rollback": "rolling back"}[
            self.value
        ]


class IfExists(str, enum.Enum):
    """What to do when the requested name is held by a job this task instance did not create.

    The job a task instance created itself (found again after a retry, crash or lost reply) is
    always attached to, whatever this says.
    """

    NEW = "new"  # default: this run trains anew, under the name with a per-run suffix
    ATTACH = "attach"  # opt-in: adopt the other run's job and report its outcome
    FAIL = "fail"
    REPLACE = "replace"  # delete the other job, then create this one under the name
    SUFFIX = "suffix"  # always use the name with a per-run suffix (every try of a run: the same name)
