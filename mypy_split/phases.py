"""The work on one SCC, as engine calls: classify, interface, implementation.

These are the building blocks every executor uses, in-process or in a worker.
Each call leaves the cache committed, so that whatever runs next (here or in
another process) reads what this call wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mypy.build
from mypy.build import SCC, BuildManager, Graph, State


@dataclass(frozen=True)
class InterfaceResult:
    """What the interface phase of one SCC produced, per module, in check order."""

    module_ids: tuple[str, ...]
    meta_files: tuple[str | None, ...]
    interface_hashes: tuple[bytes, ...]


def classify(sccs: list[SCC], graph: Graph, manager: BuildManager) -> tuple[list[int], list[int]]:
    """Split ready SCCs into fresh and stale; fresh SCCs report their cached errors now.

    Stale modules are marked as rechecked at once, as mypy does when it queues
    them (reports and the daemon read that set).
    """
    stale, fresh = mypy.build.find_stale_sccs(sccs, graph, manager)
    for scc in stale:
        for module_id in scc.mod_ids:
            graph[module_id].mark_as_rechecked()
    return [scc.id for scc in fresh], [scc.id for scc in stale]


def needs_one_piece(scc: SCC, graph: Graph) -> bool:
    """Without local partial types, an SCC's phases cannot be separated."""
    return not all(graph[module_id].options.local_partial_types for module_id in scc.mod_ids)


def check_whole(scc: SCC, graph: Graph, manager: BuildManager) -> None:
    """Check an SCC in one piece; its errors are flushed as each module finishes."""
    invalidate_error_caches(scc, graph, manager)
    mypy.build.process_stale_scc_full(graph, scc, manager)
    manager.commit()


def check_interface(
    scc: SCC, graph: Graph, manager: BuildManager, from_cache: set[str] | None = None
) -> InterfaceResult:
    """Semantic analysis and top-level checks of an SCC; writes data and meta files.

    A module loaded from cache that turned stale through a dependency has no
    tree yet, so the SCC is parsed first.  `from_cache` names the modules the
    coordinator loaded from cache (a worker's states have no meta to tell).
    """
    invalidate_error_caches(scc, graph, manager)
    states = [graph[module_id] for module_id in scc.mod_ids]
    stat_before_reading(states, manager)
    manager.parse_all(states, post_parse=False)
    if from_cache is None:
        from_cache = {module_id for module_id in scc.mod_ids if graph[module_id].meta}
    else:
        from_cache = from_cache & scc.mod_ids
    results = mypy.build.process_stale_scc_interface(graph, scc, manager, from_cache=from_cache)
    manager.commit()
    # Again, now that the new metas are there: a process that does not take
    # our cache lock (a plain `mypy`) may have written its `meta_ex` in
    # between, and it must not pass for the errors of our version.
    invalidate_error_caches(scc, graph, manager)
    return InterfaceResult(
        module_ids=tuple(module_id for module_id, _, _ in results),
        meta_files=tuple(meta_file for _, _, meta_file in results),
        interface_hashes=tuple(
            bytes.fromhex(str(result.interface_hash)) for _, result, _ in results
        ),
    )


def stat_before_reading(states: list[State], manager: BuildManager) -> None:
    """Fix each file's stat (mtime, size) before its text is read, as the meta records them.

    The native parser reads files itself, and the engine takes the stat it
    writes into the meta only when it writes it, unless the process took it
    earlier.  A file edited in between would get the new stat with the old
    text's hash and errors, and the next run would find that entry fresh for
    the new text.  Taken first, the stat can only be older than the text, which
    makes the next run compare hashes.
    """
    for state in states:
        if state.path and state.tree is None:
            manager.get_stat(state.path)


def apply_interface_hashes(result: InterfaceResult, graph: Graph) -> None:
    """Record new interface hashes, marking changed ones so dependents turn stale.

    In the process that checked the SCC the engine has done this already; a
    process that only hears the result must do it before classifying dependents.
    """
    for module_id, new_hash in zip(result.module_ids, result.interface_hashes):
        state = graph[module_id]
        if new_hash != state.interface_hash:
            state.mark_interface_stale()
            state.interface_hash = new_hash


def check_implementation(
    module_ids: list[str], meta_files: list[str | None], graph: Graph, manager: BuildManager
) -> dict[str, list[str]]:
    """Check the remaining function bodies, module by module; write `meta_ex` files.

    Returns the formatted error lines of every module whose errors are shown,
    in check order.
    """
    lines: dict[str, list[str]] = {}
    for module_id, meta_file in zip(module_ids, meta_files):
        results = mypy.build.process_stale_scc_implementation(
            graph, [module_id], manager, [meta_file]
        )
        for result_id, result in results.items():
            lines[result_id] = list(result.error_lines)
    manager.commit()
    return lines


def invalidate_error_caches(scc: SCC, graph: Graph, manager: BuildManager) -> None:
    """Remove the SCC's old `meta_ex` files before new interfaces are written.

    Between the phases the new meta is on disk while the errors of the
    previous version would still be; a run stopped there must leave the module
    stale, not fresh with the old errors.  A missing `meta_ex` does exactly that.
    """
    if not writes_cache(manager):
        return
    for module_id in scc.mod_ids:
        state = graph[module_id]
        if not state.path:
            continue
        meta_file, _, _ = mypy.build.get_cache_names(module_id, state.xpath, manager.options)
        try:
            manager.metastore.remove(mypy.build.get_meta_ex_name(meta_file))
        except OSError:
            pass
    manager.commit()


def writes_cache(manager: BuildManager) -> bool:
    """Whether the engine writes cache files in this build.

    It does unless the cache folder is `os.devnull`, also when it reads none
    (report options, `--no-incremental`): the next run may read what it wrote.
    """
    return manager.options.cache_dir != os.devnull


ErrorTuple = tuple[str | None, int, int, int, int, str, str, str | None]


def shown_error_tuples(
    module_ids: list[str], graph: Graph, manager: BuildManager
) -> dict[str, list[ErrorTuple]]:
    """The error tuples of each module whose errors are shown, as mypy caches them.

    Reading them does not consume them: the engine has already written them to
    the module's `meta_ex`; this returns the same list for the coordinator.
    """
    shown: dict[str, list[ErrorTuple]] = {}
    for module_id in module_ids:
        xpath = graph[module_id].xpath
        if xpath not in manager.errors.ignored_files:
            shown[module_id] = list(manager.errors.file_messages(xpath))
    return shown


def order_in_scc(scc: SCC, graph: Graph) -> list[str]:
    """The order in which mypy processes (and reports) the modules of an SCC."""
    return list(mypy.build.order_ascc_ex(graph, scc))
