"""The runners both services use: local processes (``local``, each replica under ``supervise.py``) and timers
(``simulated``); ``base`` is their interface, ``processes`` the process plumbing, ``cos`` the object storage
the local runners fetch code and data from. Nothing here knows a service: ``tia.runners`` and
``tione.runners`` say what a job's replicas are and how they start.
"""
