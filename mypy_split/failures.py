"""Failures of our own that end a run with exit status 2 and a one-line message."""

from __future__ import annotations


class WorkerCrashed(Exception):
    """A task lost its worker twice: the run ends with an internal error naming it."""


class ReloadWithoutWorkers(Exception):
    """A blocking error mypy reports while loading the graph turned up late: run again in-process."""
