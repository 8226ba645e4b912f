"""The progress line: one updating line on stderr while a build runs on a terminal.

`mypy-split: 120/450 modules, 3 SCCs in flight, 2/4 workers busy, 12.3s`
It is redrawn in place (carriage return, erase to end of line) at most every
`MIN_INTERVAL` seconds, erased before any output line is written and when the
build ends, so it never mixes with what mypy would print.  It is shown only
when stderr is a terminal, the terminal is not `dumb`, `--no-progress` was not
given and `-v` logging (which writes to stderr) is off; never on stdout.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from mypy_split.observe import NULL_OBSERVER, BuildObserver, Task
from mypy_split.own_flags import OwnFlags
from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost

if TYPE_CHECKING:
    from mypy_split.protocol import TimedSpan

MIN_INTERVAL = 0.1
_ERASE = "\r\x1b[K"


def progress_observer(flags: OwnFlags, stream: TextIO, verbosity: int) -> BuildObserver:
    """A progress line on `stream` where one may be shown, else the null observer."""
    if not flags.progress or verbosity > 0 or os.environ.get("TERM") == "dumb":
        return NULL_OBSERVER
    try:
        if not stream.isatty():
            return NULL_OBSERVER
    except (AttributeError, ValueError):
        return NULL_OBSERVER
    return ProgressLine(stream)


class ProgressLine:
    """Counts what the events say and draws it; erases itself before output."""

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.width = width or (lambda: _terminal_width(stream))
        self.started = clock()
        self.last_draw: float | None = None
        self.visible = False
        self.modules = 0
        self.workers = 0
        self.done_modules = 0
        self.in_flight: dict[int, Task] = {}

    # -- events -----------------------------------------------------------------

    def build_planned(self, modules: int, sccs: int, workers: int) -> None:
        # A second build in one run (after --install-types) starts counting anew.
        self.modules = modules
        self.workers = workers
        self.done_modules = 0
        self.in_flight.clear()
        self.draw()

    def scc_fresh(self, scc_id: int, modules: int) -> None:
        self.done_modules += modules
        self.draw()

    def task_started(self, task: Task) -> None:
        self.in_flight[task.scc_id] = task
        self.draw()

    def task_finished(self, task: Task, ok: bool) -> None:
        self.in_flight.pop(task.scc_id, None)
        if ok and task.phase in ("implementation", "whole"):
            self.done_modules += task.modules
        self.draw()

    def worker_spans(self, worker: int, scc_id: int | None, spans: Sequence[TimedSpan]) -> None:
        pass

    def build_measured(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> None:
        pass

    def before_output(self) -> None:
        self.erase()

    def build_finished(self) -> None:
        self.erase()

    # -- drawing ------------------------------------------------------------------

    def text(self, now: float) -> str:
        parts = [f"mypy-split: {self.done_modules}/{self.modules} modules"]
        parts.append(f"{len(self.in_flight)} SCCs in flight")
        if self.workers:
            busy = len({task.worker for task in self.in_flight.values() if task.worker is not None})
            parts.append(f"{busy}/{self.workers} workers busy")
        parts.append(f"{now - self.started:.1f}s")
        return ", ".join(parts)

    def draw(self) -> None:
        now = self.clock()
        if self.last_draw is not None and now - self.last_draw < MIN_INTERVAL:
            return
        # One character short of the width: a full line would wrap on some terminals.
        line = self.text(now)[: max(self.width() - 1, 0)]
        self.stream.write(_ERASE + line)
        self.stream.flush()
        self.last_draw = now
        self.visible = True

    def erase(self) -> None:
        if not self.visible:
            return
        self.stream.write(_ERASE)
        self.stream.flush()
        self.visible = False


def _terminal_width(stream: TextIO) -> int:
    """The width of the terminal the line goes to (stdout may be a pipe)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    # A terminal that does not tell its size reports 0 columns.
    return columns if columns > 0 else shutil.get_terminal_size(fallback=(80, 24)).columns
