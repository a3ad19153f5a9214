"""TI-ONE (``tione`` 2021-11-11) in the emulator, next to TI-A on the same port: training tasks, the model
repository and online services that really serve.

Training tasks: ``schema`` checks request shapes, ``store`` keeps tasks and their logs, ``views`` renders
replies, ``actions`` runs the actions (and routes the others), ``runners`` runs task instances on the shared
runners (local processes, simulated timers), ``logs`` answers DescribeLogs. Model repository: ``repo_schema``,
``repo`` (models and versions), ``importer`` (the asynchronous copy from COS), ``repo_actions``. Online
services: ``service_schema``, ``service_store`` (groups, versions, events, pod logs), ``serving`` (tiinfer
replicas), ``gateway`` (predictions with token auth), ``service_views``, ``service_events``,
``service_actions``. ``console`` renders the pages of a task, a model version and a service.
"""
