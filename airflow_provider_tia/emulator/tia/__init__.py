"""TI-A (``tia`` 2018-02-26) training jobs in the emulator, next to TI-ONE on the same port.

``schema`` checks request shapes, ``store`` keeps jobs and their logs, ``logs`` pages QueryLogs, ``views``
renders replies, ``actions`` runs the five actions, ``runners`` says how a TI-A job runs (replicas, local
processes, simulated timers), ``console`` renders a job's page.
"""
