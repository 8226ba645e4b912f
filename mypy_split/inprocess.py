"""In-process execution (`-n 0`): our own build loop, one SCC after another.

The scheduler's `SequentialLoop` says what to do next; this module does it with
the phase functions and reports back.  Running in mypy's own order in one
process gives mypy's output, only-once notes included, by construction.
"""

from __future__ import annotations

import time

from mypy.build import BuildManager

from mypy_split import phases
from mypy_split.costs import CostModel
from mypy_split.graph import BuildPlan
from mypy_split.schedule import (
    Action,
    Classify,
    Finished,
    RunImplementation,
    RunInterface,
    SequentialLoop,
)


def run_in_process(plan: BuildPlan, manager: BuildManager, costs: CostModel | None = None) -> None:
    """Check every stale SCC of the plan, flushing errors in mypy's order.

    Each SCC's phase times go to `costs`, for the next run's scheduler.
    """
    graph = plan.graph
    loop = SequentialLoop(plan.nodes)
    pending: dict[int, phases.InterfaceResult] = {}
    interface_seconds: dict[int, float] = {}
    action: Action = loop.start()
    while not isinstance(action, Finished):
        if isinstance(action, Classify):
            fresh, stale = phases.classify([plan.scc(i) for i in action.scc_ids], graph, manager)
            action = loop.classified(fresh, stale)
        elif isinstance(action, RunInterface):
            scc = plan.scc(action.scc_id)
            started = time.perf_counter()
            if phases.needs_one_piece(scc, graph):
                phases.check_whole(scc, graph, manager)
            else:
                result = phases.check_interface(scc, graph, manager)
                phases.apply_interface_hashes(result, graph)
                pending[scc.id] = result
            interface_seconds[scc.id] = time.perf_counter() - started
            action = loop.interface_done(scc.id)
        else:
            assert isinstance(action, RunImplementation)
            started = time.perf_counter()
            if action.scc_id in pending:
                result = pending.pop(action.scc_id)
                lines = phases.check_implementation(
                    list(result.module_ids), list(result.meta_files), graph, manager
                )
                flush_module_lines(lines, plan, manager)
            if costs is not None:
                costs.record(
                    plan.scc(action.scc_id).mod_ids,
                    graph,
                    interface_seconds.pop(action.scc_id),
                    time.perf_counter() - started,
                )
            action = loop.implementation_done(action.scc_id)


def flush_module_lines(lines: dict[str, list[str]], plan: BuildPlan, manager: BuildManager) -> None:
    """Pass each module's lines to the output, under the path mypy shows for it."""
    for module_id, module_lines in lines.items():
        path = manager.errors.simplify_path(plan.graph[module_id].xpath)
        manager.flush_errors(path, module_lines, False)
