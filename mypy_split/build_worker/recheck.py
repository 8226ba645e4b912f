"""Check dependencies again in this process, in memory only, before a task needs them.

A worker does so before a task; the coordinator before a task it took over
(`local_check.py`).

A task's answer can depend on whether a dependency was checked in the same
process (see `mypy_split/sensitive.py`).  When such a dependency was checked
by another process, this process checks it again: both phases, exactly as its
own task did, but with its cache writes switched off and everything it
reports discarded (its errors, only-once notes, report entries and
fine-grained dependencies belong to the task that checked it first).

The coordinator only asks for SCCs this process has never loaded, so no module
here refers to an earlier copy of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import mypy.build
from mypy.build import SCC, BuildManager, Graph, State

from mypy_split import phases
from mypy_split.stored_order import StoredOrders

if TYPE_CHECKING:
    # Only for annotations: the coordinator imports this module on runs that start no worker.
    from mypy_split.protocol import CheckScc


def recheck_in_memory(
    task: CheckScc,
    graph: Graph,
    manager: BuildManager,
    from_cache: set[str],
    expected_hashes: dict[str, bytes],
    orders: StoredOrders,
) -> None:
    """Check each SCC of `task.recheck`, in order, leaving no trace but the trees in memory.

    `expected_hashes` are the committed interface hashes the coordinator
    sent; `orders` are put back on the dependencies loaded from the cache.
    """
    if not task.recheck:
        return
    suppressed = dict(zip(task.recheck_modules, task.recheck_opts))
    for scc_id in task.recheck:
        scc = manager.scc_by_id[scc_id]
        states = [graph[module_id] for module_id in sorted(scc.mod_ids)]
        for state in states:
            state.options = state.options.clone_for_module(state.id)
            state.known_suppressed_deps_opts = suppressed.get(state.id, b"")
        with nothing_reported(states, manager):
            check_without_writing(scc, states, graph, manager, from_cache & scc.mod_ids, orders)
        for state in states:
            # With writes off the engine kept the hash it read from the
            # graph; the task's own cache entry records the new one.
            committed = expected_hashes.get(state.id)
            if committed is not None:
                state.interface_hash = committed


@contextmanager
def nothing_reported(states: list[State], manager: BuildManager) -> Iterator[None]:
    """What checking these modules again reports is discarded.

    Their errors, only-once notes, report entries and fine-grained
    dependencies belong to the task that checked them first; errors left in
    the engine's map would also show up in a later blocker's message.  The
    coordinator may have shown a module's answer already (a worker's), which
    closes its file to new errors: it is open while checked again.
    """
    errors = manager.errors
    shown = {state.xpath for state in states} & errors.flushed_files
    errors.flushed_files -= shown
    only_once = set(errors.only_once_messages)
    seen_import_error = errors.seen_import_error
    kept_errors = {state.xpath: list(errors.error_info_map.get(state.xpath, ())) for state in states}
    reports = manager.reports
    fine_grained = {trigger: set(targets) for trigger, targets in manager.fg_deps.items()}
    # Reporters write per file as its checking finishes: none for these.
    manager.reports = None
    try:
        yield
    finally:
        manager.reports = reports
        errors.only_once_messages.clear()
        errors.only_once_messages.update(only_once)
        errors.seen_import_error = seen_import_error
        errors.flushed_files |= shown
        for path, infos in kept_errors.items():
            if infos:
                errors.error_info_map[path] = infos
            else:
                errors.error_info_map.pop(path, None)
        manager.fg_deps.clear()
        manager.fg_deps.update(fine_grained)


def check_without_writing(
    scc: SCC, states: list[State], graph: Graph, manager: BuildManager, from_cache: set[str], orders: StoredOrders
) -> None:
    """Both phases of one SCC as its own task ran them, with cache writes off.

    Dependencies are loaded first, while the cache folder is still the real
    one; each state then gets a private copy of its options with the cache
    folder `os.devnull`, which makes the engine skip every write.
    """
    phases.load_dependencies(scc, graph, manager, orders)
    manager.parse_all(states, post_parse=False)
    kept = {state.id: state.options for state in states}
    for state in states:
        state.options = state.options.apply_changes({"cache_dir": os.devnull})
    try:
        if phases.needs_one_piece(scc, graph):
            mypy.build.process_stale_scc_full(graph, scc, manager)
            return
        results = mypy.build.process_stale_scc_interface(graph, scc, manager, from_cache=from_cache)
        module_ids = [module_id for module_id, _, _ in results]
        mypy.build.process_stale_scc_implementation(
            graph, module_ids, manager, [None] * len(module_ids)
        )
    finally:
        for state in states:
            state.options = kept[state.id]

