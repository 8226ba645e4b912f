"""What happens during a build, as events for whoever watches it.

The executors (in-process and the parallel coordinator) report a few events:
the plan, SCCs found fresh, each task's start and end (which SCC, which
phase, which worker), and the output layer reports that it is about to write.
Observers show a progress line, and can record a trace; each takes its own
timestamps (`time.monotonic()` when an event arrives), so events carry none.
An observer must be cheap and must never raise: it runs inside the build loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost

if TYPE_CHECKING:
    from mypy_split.protocol import TimedSpan

# "whole": an SCC checked in one piece (no local partial types), both phases at once.
# "confirm": a worker's SCC checked again in the coordinator for mypy's wording (confirm.py).
Phase = Literal["interface", "implementation", "whole", "confirm"]


class Task(NamedTuple):
    """One unit of work on one SCC."""

    scc_id: int
    phase: Phase
    # The worker's index in the pool; None when checked in the coordinator's process.
    worker: int | None
    modules: int


class BuildObserver(Protocol):
    def build_planned(self, modules: int, sccs: int, workers: int) -> None:
        """The graph is loaded: this many modules in this many SCCs, on this many workers (0: in-process)."""

    def scc_fresh(self, scc_id: int, modules: int) -> None:
        """An SCC's cache is valid: nothing to check."""

    def task_started(self, task: Task) -> None: ...

    def task_finished(self, task: Task, ok: bool) -> None:
        """`ok` is False when the task failed or its worker was lost (it may run again)."""

    def worker_spans(self, worker: int, scc_id: int | None, spans: Sequence[TimedSpan]) -> None:
        """What a worker measured itself (start-up, loading, each phase), with its own timestamps."""

    def build_measured(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> None:
        """After the checking: every SCC, and the phase seconds of those checked."""

    def before_output(self) -> None:
        """Lines are about to be written to stdout or stderr."""

    def build_finished(self) -> None:
        """The build is over (or stopped): nothing more will be reported."""


class NullObserver:
    """Watches nothing."""

    def build_planned(self, modules: int, sccs: int, workers: int) -> None:
        pass

    def scc_fresh(self, scc_id: int, modules: int) -> None:
        pass

    def task_started(self, task: Task) -> None:
        pass

    def task_finished(self, task: Task, ok: bool) -> None:
        pass

    def worker_spans(self, worker: int, scc_id: int | None, spans: Sequence[TimedSpan]) -> None:
        pass

    def build_measured(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> None:
        pass

    def before_output(self) -> None:
        pass

    def build_finished(self) -> None:
        pass


NULL_OBSERVER: BuildObserver = NullObserver()


class FanOut:
    """Several observers, told in turn."""

    def __init__(self, observers: Sequence[BuildObserver]) -> None:
        self.observers = list(observers)

    def build_planned(self, modules: int, sccs: int, workers: int) -> None:
        for observer in self.observers:
            observer.build_planned(modules, sccs, workers)

    def scc_fresh(self, scc_id: int, modules: int) -> None:
        for observer in self.observers:
            observer.scc_fresh(scc_id, modules)

    def task_started(self, task: Task) -> None:
        for observer in self.observers:
            observer.task_started(task)

    def task_finished(self, task: Task, ok: bool) -> None:
        for observer in self.observers:
            observer.task_finished(task, ok)

    def worker_spans(self, worker: int, scc_id: int | None, spans: Sequence[TimedSpan]) -> None:
        for observer in self.observers:
            observer.worker_spans(worker, scc_id, spans)

    def build_measured(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> None:
        for observer in self.observers:
            observer.build_measured(nodes, costs)

    def before_output(self) -> None:
        for observer in self.observers:
            observer.before_output()

    def build_finished(self) -> None:
        for observer in self.observers:
            observer.build_finished()


def combine(observers: Sequence[BuildObserver]) -> BuildObserver:
    """One observer for all of these (the null one when there are none)."""
    if not observers:
        return NULL_OBSERVER
    if len(observers) == 1:
        return observers[0]
    return FanOut(observers)


class RunningTasks:
    """Tasks in flight, one per SCC, told to an observer as they start and end."""

    def __init__(self, observer: BuildObserver, modules_of: Callable[[int], int]) -> None:
        self.observer = observer
        self.modules_of = modules_of
        self.running: dict[int, Task] = {}

    def start(self, scc_id: int, phase: Phase, worker: int | None) -> None:
        task = Task(scc_id, phase, worker, self.modules_of(scc_id))
        self.running[scc_id] = task
        self.observer.task_started(task)

    def end(self, scc_id: int, ok: bool, only: Phase | None = None) -> bool:
        """Tell the observer a task ended (only one of phase `only`); True if one did."""
        task = self.running.get(scc_id)
        if task is None or (only is not None and task.phase != only):
            return False
        del self.running[scc_id]
        self.observer.task_finished(task, ok)
        return True
