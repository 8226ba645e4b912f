"""An SCC checked in the coordinator's own process, as a worker would check it.

The coordinator checks an SCC itself when its task ended in a blocker or an
internal error, or no live worker may take it, or when one process is faster
(few SCCs stale).  Where workers have checked dependencies, this process
loads them from the cache as a worker would (by cache name, not by a meta it
read before they were rewritten): the manager acts as a worker meanwhile.
Where no worker ever ran, the metas read with the graph are the cache's, and
the manager loads dependencies as `mypy -n 0` does (a worker also reads each
dependency's meta again: 10 ms on a one-file edit of the self-check).  The
coordinator holds imports-only trees (`raw_trees.py`), so the SCC's whole
trees are built first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mypy.build import SCC, BuildManager, Graph

from mypy_split import phases, raw_trees
from mypy_split.build_worker.recheck import check_without_writing, nothing_reported
from mypy_split.observe import RunningTasks


def check_as_worker(
    scc: SCC,
    graph: Graph,
    manager: BuildManager,
    tasks: RunningTasks,
    interface_checked: Callable[[list[str]], None],
    after_workers: bool = True,
    recheck: Sequence[SCC] = (),
    between_modules: Callable[[], None] | None = None,
) -> list[phases.ModuleErrors]:
    """Both phases of the SCC (or its one piece); the errors to show, in mypy's order.

    `interface_checked` gets the SCC's modules in check order as soon as
    their interface is committed (the whole SCC, for one piece).
    `after_workers`: whether workers may have written cache entries since
    the graph was loaded.  `recheck`: dependencies checked by workers that
    the SCC must see in memory (`affinity.py`), checked again here first.
    `between_modules`: called between two modules' bodies.
    """
    manager.parallel_worker = after_workers
    try:
        for needed in recheck:
            states = [graph[module_id] for module_id in sorted(needed.mod_ids)]
            raw_trees.build_trees_here(states, manager)
            with nothing_reported(states, manager):
                from_cache = {state.id for state in states if state.meta is not None}
                check_without_writing(needed, states, graph, manager, from_cache)
        # Also when a worker built them before it was lost: this process has imports only.
        raw_trees.build_trees_here([graph[module_id] for module_id in sorted(scc.mod_ids)], manager)
        if phases.needs_one_piece(scc, graph):
            tasks.start(scc.id, "whole", None)
            shown = phases.check_whole(scc, graph, manager)
            interface_checked(phases.order_in_scc(scc, graph))
            tasks.end(scc.id, True)
            return shown
        tasks.start(scc.id, "interface", None)
        result = phases.check_interface(scc, graph, manager)
        interface_checked(list(result.module_ids))
        tasks.end(scc.id, True)
        tasks.start(scc.id, "implementation", None)
        shown = phases.check_implementation(
            list(result.module_ids), list(result.meta_files), graph, manager, between_modules
        )
        tasks.end(scc.id, True)
        return shown
    finally:
        manager.parallel_worker = False
