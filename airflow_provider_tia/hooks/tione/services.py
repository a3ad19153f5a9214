"""The online services' calls on ``TIONEHook`` (CreateModelService, ModifyModelService, Describe*,
weights, call info, events, logs, and calling the service): a mixin, so one hook keeps one connection,
one error table and one retry policy for every TI-ONE action."""

from __future__ import annotations


class ModelServiceCalls:
    """Online-service calls of ``TIONEHook`` (sync)."""


class AsyncModelServiceCalls:
    """Online-service calls of ``AsyncTIONEClient`` (what a trigger reads)."""
