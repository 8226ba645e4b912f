"""In-process execution (`-n 0`): our own build loop, one SCC after another.

The scheduler's `SequentialLoop` says what to do next; this module does it with
the phase functions and reports back.  Running in mypy's own order in one
process gives mypy's output, only-once notes included, by construction.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from mypy.build import BuildManager

from mypy_split import phases
from mypy_split.costs import CostModel
from mypy_split.graph import BuildPlan
from mypy_split.observe import NULL_OBSERVER, BuildObserver, Task
from mypy_split.schedule import (
    Action,
    Classify,
    Finished,
    RunImplementation,
    RunInterface,
    SequentialLoop,
)


class InProcessRun:
    """One pass of the sequential loop; phase times go to `costs` for the next run's scheduler."""

    def __init__(
        self,
        plan: BuildPlan,
        manager: BuildManager,
        show: phases.ShowErrors,
        costs: CostModel | None,
        observer: BuildObserver,
    ) -> None:
        self.plan = plan
        self.graph = plan.graph
        self.manager = manager
        self.show = show
        self.costs = costs
        self.observer = observer
        self.pending: dict[int, phases.InterfaceResult] = {}
        self.interface_seconds: dict[int, float] = {}

    def run(self) -> None:
        loop = SequentialLoop(self.plan.nodes)
        self.observer.build_planned(len(self.graph), len(self.plan.sccs), 0)
        action: Action = loop.start()
        while not isinstance(action, Finished):
            if isinstance(action, Classify):
                fresh, stale = self.classify(action.scc_ids)
                action = loop.classified(fresh, stale)
            elif isinstance(action, RunInterface):
                self.interface(action.scc_id)
                action = loop.interface_done(action.scc_id)
            else:
                assert isinstance(action, RunImplementation)
                self.implementation(action.scc_id)
                action = loop.implementation_done(action.scc_id)

    def classify(self, scc_ids: Sequence[int]) -> tuple[list[int], list[int]]:
        classified = phases.classify([self.plan.scc(i) for i in scc_ids], self.graph, self.manager)
        for scc_id in classified.fresh:
            self.observer.scc_fresh(scc_id, len(self.plan.scc(scc_id).mod_ids))
        show_all(classified.cached_errors, self.show)
        return classified.fresh, classified.stale

    def interface(self, scc_id: int) -> None:
        scc = self.plan.scc(scc_id)
        started = time.perf_counter()
        if phases.needs_one_piece(scc, self.graph):
            task = Task(scc_id, "whole", None, len(scc.mod_ids))
            self.observer.task_started(task)
            show_all(phases.check_whole(scc, self.graph, self.manager), self.show)
        else:
            task = Task(scc_id, "interface", None, len(scc.mod_ids))
            self.observer.task_started(task)
            result = phases.check_interface(scc, self.graph, self.manager)
            phases.apply_interface_hashes(result, self.graph)
            self.pending[scc_id] = result
        self.interface_seconds[scc_id] = time.perf_counter() - started
        self.observer.task_finished(task, True)

    def implementation(self, scc_id: int) -> None:
        started = time.perf_counter()
        result = self.pending.pop(scc_id, None)
        if result is not None:
            task = Task(scc_id, "implementation", None, len(result.module_ids))
            self.observer.task_started(task)
            shown = phases.check_implementation(
                list(result.module_ids), list(result.meta_files), self.graph, self.manager
            )
            self.observer.task_finished(task, True)
            show_all(shown, self.show)
        if self.costs is not None:
            self.costs.record(
                self.plan.scc(scc_id).mod_ids,
                self.graph,
                self.interface_seconds.pop(scc_id),
                time.perf_counter() - started,
            )


def run_in_process(
    plan: BuildPlan,
    manager: BuildManager,
    show: phases.ShowErrors,
    costs: CostModel | None = None,
    observer: BuildObserver = NULL_OBSERVER,
) -> None:
    """Check every stale SCC of the plan, showing errors in mypy's order."""
    InProcessRun(plan, manager, show, costs, observer).run()
    # mypy's own `-vv` line at the end of its loop.
    manager.trace(f"Transitive deps cache size: {sys.getsizeof(manager.transitive_deps_cache)}")


def show_all(errors: list[phases.ModuleErrors], show: phases.ShowErrors) -> None:
    for module_errors in errors:
        show(module_errors)
