"""TI-ONE (``tione`` 2021-11-11) training tasks in the emulator, next to TI-A on the same port.

``schema`` checks request shapes, ``store`` keeps tasks and their logs, ``views`` renders replies,
``actions`` runs the eight actions, ``runners`` runs task instances on the shared runners (local processes,
simulated timers), ``console`` renders a task's page.
"""
