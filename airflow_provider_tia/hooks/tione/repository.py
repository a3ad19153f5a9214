"""The model repository's calls on ``TIONEHook`` (CreateTrainingModel, DescribeTrainingModelVersion(s),
DeleteTrainingModel(Version)): a mixin, so one hook keeps one connection, one error table and one retry
policy for every TI-ONE action."""

from __future__ import annotations


class ModelRepositoryCalls:
    """Model-repository calls of ``TIONEHook`` (sync)."""


class AsyncModelRepositoryCalls:
    """Model-repository calls of ``AsyncTIONEClient`` (what a trigger reads)."""
