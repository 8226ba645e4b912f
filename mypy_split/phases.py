"""The work on one SCC, as engine calls: classify, interface, implementation.

These are the building blocks every executor uses, in-process or in a worker.
Each call leaves the cache committed, so that whatever runs next (here or in
another process) reads what this call wrote.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import mypy.build
from librt.internal import ReadBuffer
from mypy.build import PRI_INDIRECT, SCC, BuildManager, Graph, State
from mypy.cache import CacheMetaEx
from mypy.util import json_loads
from mypy.errors import Errors
from mypy.freetree import free_tree
from mypy.metastore import MetadataStore, SqliteMetadataStore

from mypy_split import stored_order
from mypy_split.header_values import OrderRecord
from mypy_split.meta_pairing import keep_only_beside_own_meta
from mypy_split.sensitive import Sensitivity, cache_sensitivity

ErrorTuple = tuple[str | None, int, int, int, int, str, str, str | None]


class ModuleErrors(NamedTuple):
    """One module's errors as shown: the engine's text lines and the tuples behind them.

    `errors` is None only where the engine gave text without its tuples.
    """

    # As mypy shows it; None for lines that belong to no one file (a blocker's).
    path: str | None
    lines: list[str]
    errors: list[ErrorTuple] | None


# Where executors send each module's errors, in the order mypy shows them.
ShowErrors = Callable[[ModuleErrors], None]


class InterfaceResult(NamedTuple):
    """What the interface phase of one SCC produced, per module, in check order."""

    module_ids: tuple[str, ...]
    meta_files: tuple[str | None, ...]
    interface_hashes: tuple[bytes, ...]


class Classified(NamedTuple):
    """Ready SCCs split into fresh and stale, and the fresh ones' cached errors in mypy's order."""

    fresh: list[int]
    stale: list[int]
    cached_errors: list[ModuleErrors]
    # The same, by fresh SCC.
    cached_by_scc: dict[int, list[ModuleErrors]]


def classify(sccs: list[SCC], graph: Graph, manager: BuildManager) -> Classified:
    """Split ready SCCs into fresh and stale; fresh SCCs' cached errors are returned.

    Stale modules are marked as rechecked at once, as mypy does when it queues
    them (reports and the daemon read that set).
    """
    with engine_flushes(manager) as flushed:
        stale, fresh = mypy.build.find_stale_sccs(sccs, graph, manager)
    for scc in stale:
        for module_id in scc.mod_ids:
            graph[module_id].mark_as_rechecked()
    # The engine flushes exactly each fresh module's cached error tuples.
    by_path = path_lookup([m for scc in fresh for m in scc.mod_ids], graph, manager)
    cached = [
        ModuleErrors(path, lines, cached_tuples(path, by_path, graph))
        for path, lines in flushed
    ]
    scc_of = {module_id: scc.id for scc in fresh for module_id in scc.mod_ids}
    by_scc: dict[int, list[ModuleErrors]] = {scc.id: [] for scc in fresh}
    # SCCs are flushed one after another; a path of no module (none known)
    # stays with the SCC flushed before it.
    current = fresh[0].id if fresh else None
    for module_errors in cached:
        current = scc_of.get(by_path.get(module_errors.path or "", ""), current)
        if current is not None:
            by_scc[current].append(module_errors)
    return Classified([scc.id for scc in fresh], [scc.id for scc in stale], cached, by_scc)


def cached_tuples(path: str | None, by_path: dict[str, str], graph: Graph) -> list[ErrorTuple] | None:
    module_id = by_path.get(path or "")
    return None if module_id is None else list(graph[module_id].error_lines)


@contextmanager
def engine_flushes(manager: BuildManager) -> Iterator[list[tuple[str | None, list[str]]]]:
    """Collect what the engine flushes during a call instead of showing it.

    The caller pairs each flushed path with the tuples behind its lines and
    shows both in order (the text output needs the lines, other formats the
    tuples).
    """
    flushed: list[tuple[str | None, list[str]]] = []
    shown = manager.flush_errors
    manager.flush_errors = lambda path, lines, serious: flushed.append((path, lines))
    try:
        yield flushed
    finally:
        manager.flush_errors = shown


def path_lookup(module_ids: list[str], graph: Graph, manager: BuildManager) -> dict[str, str]:
    """Module ids by the path mypy shows for them."""
    return {manager.errors.simplify_path(graph[m].xpath): m for m in module_ids}


def needs_one_piece(scc: SCC, graph: Graph) -> bool:
    """Without local partial types, an SCC's phases cannot be separated."""
    return not all(graph[module_id].options.local_partial_types for module_id in scc.mod_ids)


def check_whole(scc: SCC, graph: Graph, manager: BuildManager, writes: bool = True) -> list[ModuleErrors]:
    """Check an SCC in one piece; returns its modules' errors in mypy's order.

    Without `writes` its cache entries and interface hashes stay as they are.
    """
    states = [graph[module_id] for module_id in scc.mod_ids]
    kept_hashes = [state.interface_hash for state in states]
    if writes:
        invalidate_error_caches(scc, graph, manager)
    with engine_flushes(manager) as flushed, cache_writes(states, writes):
        mypy.build.process_stale_scc_full(graph, scc, manager)
    if writes:
        manager.commit()
        keep_whole_pairs_only_if_own(scc, graph, manager)
    else:
        for state, kept in zip(states, kept_hashes):
            state.interface_hash = kept
    # Reading a module's tuples again gives what the engine just formatted.
    by_path = path_lookup(list(scc.mod_ids), graph, manager)
    shown = []
    for path, lines in flushed:
        module_id = by_path.get(path or "")
        tuples = None if module_id is None else manager.errors.file_messages(graph[module_id].xpath)
        shown.append(ModuleErrors(path, lines, tuples))
    return shown


def keep_whole_pairs_only_if_own(scc: SCC, graph: Graph, manager: BuildManager) -> None:
    """The engine committed each module's meta and `meta_ex` at once; both checked right after."""
    if not writes_cache(manager):
        return
    for module_id in sorted(scc.mod_ids):
        state = graph[module_id]
        if state.path:
            meta_file, _, _ = mypy.build.get_cache_names(module_id, state.xpath, manager.options)
            keep_only_beside_own_meta(module_id, meta_file, graph, manager)


def check_interface(
    scc: SCC,
    graph: Graph,
    manager: BuildManager,
    from_cache: set[str] | None = None,
    writes: bool = True,
) -> InterfaceResult:
    """Semantic analysis and top-level checks of an SCC; writes data and meta files.

    A module loaded from cache that turned stale through a dependency has no
    tree yet, so the SCC is parsed first.  `from_cache` names the modules the
    coordinator loaded from cache (a worker's states have no meta to tell).
    Without `writes` (a helper repeating an interface another process
    commits) nothing is written or removed, and interface hashes stay as
    they were.
    """
    in_transaction = isinstance(manager.metastore, SqliteMetadataStore)
    if writes and not in_transaction:
        invalidate_error_caches(scc, graph, manager)
    states = [graph[module_id] for module_id in scc.mod_ids]
    stat_before_reading(states, manager)
    manager.parse_all(states, post_parse=False)
    if from_cache is None:
        from_cache = {module_id for module_id in scc.mod_ids if graph[module_id].meta}
    else:
        from_cache = from_cache & scc.mod_ids
    with cache_writes(states, writes):
        results = mypy.build.process_stale_scc_interface(graph, scc, manager, from_cache=from_cache)
    if writes and in_transaction:
        commit_interfaces_without_old_errors(scc, graph, manager)
    elif writes:
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


@contextmanager
def cache_writes(states: list[State], enabled: bool) -> Iterator[None]:
    """Without `enabled`, the engine writes no cache file for these states meanwhile.

    It skips a state whose own options name `os.devnull` as the cache folder.
    Each state gets a copy for that time: a state without per-module options
    may share the manager's object, whose cache folder must stay.
    """
    if enabled:
        yield
        return
    kept = [state.options for state in states]
    for state in states:
        state.options = copy.copy(state.options)
        state.options.cache_dir = os.devnull
    try:
        yield
    finally:
        for state, options in zip(states, kept):
            state.options = options


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
    module_ids: list[str],
    meta_files: list[str | None],
    graph: Graph,
    manager: BuildManager,
    between_modules: Callable[[], None] | None = None,
) -> list[ModuleErrors]:
    """Check the remaining function bodies, module by module; write `meta_ex` files.

    Returns the errors of every module whose errors are shown, in check
    order.  `between_modules` is called after each module but the last.
    """
    shown: list[ModuleErrors] = []
    for index, (module_id, meta_file) in enumerate(zip(module_ids, meta_files)):
        if index and between_modules is not None:
            between_modules()
        results = mypy.build.process_stale_scc_implementation(
            graph, [module_id], manager, [meta_file]
        )
        if meta_file is not None:
            keep_only_beside_own_meta(module_id, meta_file, graph, manager)
        for result_id, result in results.items():
            xpath = graph[result_id].xpath
            shown.append(
                ModuleErrors(
                    manager.errors.simplify_path(xpath),
                    list(result.error_lines),
                    manager.errors.file_messages(xpath),
                )
            )
    manager.commit()
    return shown


def check_implementation_unwritten(module_id: str, graph: Graph, manager: BuildManager) -> None:
    """Check one module's remaining bodies and write nothing (in a forked child, build_worker/forked.py).

    Its errors stay in the engine's error map; the caller reads them there.
    """
    mypy.build.process_stale_scc_implementation(graph, [module_id], manager, [None])


def release_unchecked_bodies(module_ids: list[str], graph: Graph, manager: BuildManager) -> None:
    """Free, for modules whose bodies another process checked, what checking them would have freed.

    After the interface phase this process holds each module's whole tree
    and type checker; the engine frees them as it finishes a module's bodies
    (keeping the symbol tables, all that importers use).  A process that
    checked only a share of a cycle's bodies would otherwise keep the rest
    until it exits.
    """
    options = manager.options
    if options.fine_grained_incremental or options.preserve_asts:
        return
    for module_id in module_ids:
        state = graph[module_id]
        state.free_state()
        if state.tree is not None:
            free_tree(state.tree)


def indirect_dependencies(state: State) -> tuple[list[str], list[str]]:
    """The dependencies (and suppressed ones) a module's `meta_ex` lists: the indirect ones.

    Indirect dependencies are those the checker found through types, not
    imports; the engine keeps them out of the meta, which the interface
    phase writes before the bodies are checked.
    """
    indirect = [dep for dep in state.dependencies if state.priorities.get(dep) == PRI_INDIRECT]
    suppressed = [dep for dep in state.suppressed if state.priorities.get(dep) == PRI_INDIRECT]
    return indirect, suppressed


def write_meta_ex(
    module_id: str,
    indirect: tuple[list[str], list[str]],
    error_lines: list[ErrorTuple],
    source_hash: str | None,
    graph: Graph,
    manager: BuildManager,
) -> None:
    """Write the `meta_ex` of a module whose bodies another process checked (from `source_hash`).

    The interface hashes of its indirect dependencies are this process's: by
    the time the caller writes, every one of them is committed and known here.
    """
    state = graph[module_id]
    if not state.path or not writes_cache(manager):
        return
    meta_file, _, _ = mypy.build.get_cache_names(module_id, state.xpath, manager.options)
    dependencies, suppressed = indirect
    meta_ex = CacheMetaEx(
        dependencies=dependencies,
        suppressed=suppressed,
        dep_hashes=[graph[dep].interface_hash for dep in dependencies],
        error_lines=error_lines,
    )
    mypy.build.write_cache_meta_ex(meta_file, meta_ex, manager)
    keep_only_beside_own_meta(module_id, meta_file, graph, manager, source_hash)


def rewrite_cached_errors(
    module_id: str, error_lines: list[ErrorTuple], source_hash: str | None, graph: Graph, manager: BuildManager
) -> None:
    """Make a module's `meta_ex` hold these errors (what a sequential run would have stored).

    `source_hash`: that of the source the module was checked from, if another process checked it.
    """
    state = graph[module_id]
    if not state.path or not writes_cache(manager):
        return
    meta_file, _, _ = mypy.build.get_cache_names(module_id, state.xpath, manager.options)
    try:
        raw = manager.metastore.read(mypy.build.get_meta_ex_name(meta_file))
    except OSError:
        return
    if manager.options.fixed_format_cache:
        meta_ex = CacheMetaEx.read(ReadBuffer(raw))
    else:
        meta_ex = CacheMetaEx.deserialize(json_loads(raw))
    if meta_ex is None:
        return
    meta_ex.error_lines = error_lines
    mypy.build.write_cache_meta_ex(meta_file, meta_ex, manager)
    keep_only_beside_own_meta(module_id, meta_file, graph, manager, source_hash)


def invalidate_error_caches(scc: SCC, graph: Graph, manager: BuildManager) -> None:
    """Remove the SCC's old `meta_ex` files before new interfaces are written (file store; SCCs in one piece).

    Between the phases the new meta is on disk while the errors of the
    previous version would still be; a run stopped there must leave the module
    stale, not fresh with the old errors.  A missing `meta_ex` does exactly that.

    Only entries that exist are removed, each committed at once: in the SQLite
    store a removal takes its shard's write lock, and a process holding one
    shard while it waits for another could wait on a process doing the same
    the other way round (each for the whole busy timeout).
    """
    if not writes_cache(manager):
        return
    store = manager.metastore
    pairs = cache_pairs(scc, graph, manager)
    # Those absent need nothing: nothing to lock for.
    present = existing_entries(store, [errors_file for _, errors_file in pairs])
    for meta_file, errors_file in pairs:
        if errors_file in present:
            remove_and_commit(errors_file, meta_file, manager)


def commit_interfaces_without_old_errors(scc: SCC, graph: Graph, manager: BuildManager) -> None:
    """SQLite store: commit the SCC's new metas with the removal of its old `meta_ex` entries.

    The engine's interface writes are not committed yet, and each holds its
    shard's write lock until they are: a `meta_ex` removed in the same
    transaction goes with the new meta, and none can be written in between
    by another process, so one lookup does the work of the two that the file
    store needs (`invalidate_error_caches`, before and after).  A module
    whose shard this process does not hold (its meta was not written) has
    its entry removed after the commit, one shard at a time as there.
    """
    if not writes_cache(manager):
        manager.commit()
        return
    store = manager.metastore
    assert isinstance(store, SqliteMetadataStore)
    pairs = cache_pairs(scc, graph, manager)
    present = existing_entries(store, [errors_file for _, errors_file in pairs])
    later = []
    for meta_file, errors_file in pairs:
        if errors_file not in present:
            continue
        if store._shard_index(errors_file) in store.dirty_shards:
            store.remove(errors_file)
        else:
            later.append((meta_file, errors_file))
    manager.commit()
    for meta_file, errors_file in later:
        remove_and_commit(errors_file, meta_file, manager)


def cache_pairs(scc: SCC, graph: Graph, manager: BuildManager) -> list[tuple[str, str]]:
    """Each module's meta and `meta_ex` entry names, in module order."""
    pairs = []
    for module_id in sorted(scc.mod_ids):
        state = graph[module_id]
        if state.path:
            meta_file = mypy.build.get_cache_names(module_id, state.xpath, manager.options)[0]
            pairs.append((meta_file, mypy.build.get_meta_ex_name(meta_file)))
    return pairs


def remove_and_commit(errors_file: str, meta_file: str, manager: BuildManager) -> None:
    try:
        manager.metastore.remove(errors_file)
    except OSError:
        pass
    manager.commit_module(meta_file)


def existing_entries(store: MetadataStore, names: list[str]) -> set[str]:
    """The names that have an entry in the store now.

    In the SQLite store, one query per shard: twice per SCC on every task, the
    store's own lookup (an exception for each absent name) costs more.
    """
    if not isinstance(store, SqliteMetadataStore) or not store.dbs:
        present = set()
        for name in names:
            try:
                store.getmtime(name)
            except OSError:
                continue
            present.add(name)
        return present
    by_shard: dict[int, list[str]] = {}
    for name in names:
        by_shard.setdefault(store._shard_index(name), []).append(name)
    present = set()
    for shard, shard_names in by_shard.items():
        # Old SQLite versions take at most 999 parameters per statement.
        for start in range(0, len(shard_names), 500):
            chunk = shard_names[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = store.dbs[shard].execute(f"SELECT path FROM files2 WHERE path IN ({marks})", chunk)
            present.update(path for (path,) in rows)
    return present


def writes_cache(manager: BuildManager) -> bool:
    """Whether the engine writes cache files in this build.

    It does unless the cache folder is `os.devnull`, also when it reads none
    (report options, `--no-incremental`): the next run may read what it wrote.
    """
    return manager.options.cache_dir != os.devnull


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


def load_dependencies(scc: SCC, graph: Graph, manager: BuildManager, orders: stored_order.StoredOrders) -> None:
    """Load the SCC's dependencies as the engine does first thing in either phase, then put back their orders.

    Every process that checks an SCC goes through here, so that no module
    loaded from the cache is checked against in its stored (sorted) order.
    """
    mypy.build.maybe_load_deps(graph, scc, manager)
    orders.restore_loaded(manager.modules)


def memory_facts(module_ids: list[str], graph: Graph) -> tuple[Sensitivity, dict[str, list[OrderRecord]]]:
    """What importers of these just-checked modules need: how they may see them differently from the
    cache (`sensitive.py`), and what the cache loses, to put back where they are loaded
    (`stored_order.py`; modules with no record left out).  One walk of each module's symbols does both.
    """
    level = Sensitivity.NONE
    found = {}
    for module_id in module_ids:
        state = graph[module_id]
        if state.tree is None:
            continue
        own = list(stored_order.own_nodes(state.tree))
        records, restorable = stored_order.recorded(state.tree, own, state.manager.modules)
        if records:
            found[module_id] = records
        level = max(level, cache_sensitivity(state.tree, own, restorable))
    return level, found


def order_in_scc(scc: SCC, graph: Graph) -> list[str]:
    """The order in which mypy processes (and reports) the modules of an SCC."""
    return list(mypy.build.order_ascc_ex(graph, scc))


def blocker_error_tuples(errors: Errors, messages: list[str]) -> list[ErrorTuple] | None:
    """The tuples behind a blocking error's lines, or None if they cannot be told.

    The engine's blocker carries, formatted, the errors of every file not yet
    flushed, in the order files first reported one, then the blocker itself.
    Which files those were is not kept, so each file's tuples are rendered the
    same way and taken where they are the next lines of the message list.
    (Works for plain text lines; `--pretty` excerpts do not render alike.)
    """
    taken: list[ErrorTuple] = []
    position = 0
    for path in errors.error_info_map:
        tuples = errors.file_messages(path)
        if not tuples:
            continue
        rendered = errors.format_messages_default(tuples, None)
        if messages[position : position + len(rendered)] == rendered:
            taken.extend(tuples)
            position += len(rendered)
    return taken if position == len(messages) else None
