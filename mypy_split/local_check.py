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
trees are built first.  Workers running meanwhile are served at the
interface point and between two modules' bodies (`serve_workers`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from mypy.build import SCC, BuildManager, Graph

from mypy_split import phases, raw_trees
from mypy_split.affinity import LOCAL
from mypy_split.build_worker.recheck import check_without_writing, nothing_reported
from mypy_split.observe import NULL_OBSERVER, RunningTasks
from mypy_split.stored_order import StoredOrders

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator


def check_as_worker(
    scc: SCC,
    graph: Graph,
    manager: BuildManager,
    tasks: RunningTasks,
    interface_checked: Callable[[list[str]], None],
    orders: StoredOrders,
    after_workers: bool = True,
    recheck: Sequence[SCC] = (),
    between_modules: Callable[[], None] | None = None,
    writes: bool = True,
) -> list[phases.ModuleErrors]:
    """Both phases of the SCC (or its one piece); the errors to show, in mypy's order.

    `interface_checked` gets the SCC's modules in check order as soon as
    their interface is committed (the whole SCC, for one piece).  `orders`
    go back on the modules loaded from the cache (`stored_order.py`).
    `after_workers`: whether workers may have written cache entries since
    the graph was loaded.  `recheck`: dependencies checked by workers that
    the SCC must see in memory (`affinity.py`), checked again here first.
    `between_modules`: called between two modules' bodies.  Without
    `writes` the SCC's cache entries and interface hashes stay as they are.
    """
    manager.parallel_worker = after_workers
    try:
        for needed in recheck:
            states = [graph[module_id] for module_id in sorted(needed.mod_ids)]
            raw_trees.build_trees_here(states, manager)
            with nothing_reported(states, manager):
                from_cache = {state.id for state in states if state.meta is not None}
                check_without_writing(needed, states, graph, manager, from_cache, orders)
        # Also when a worker built them before it was lost: this process has imports only.
        raw_trees.build_trees_here([graph[module_id] for module_id in sorted(scc.mod_ids)], manager)
        # As the engine would first thing in either phase, and the orders put back before it checks.
        phases.load_dependencies(scc, graph, manager, orders)
        if phases.needs_one_piece(scc, graph):
            tasks.start(scc.id, "whole", None)
            shown = phases.check_whole(scc, graph, manager, writes)
            interface_checked(phases.order_in_scc(scc, graph))
            tasks.end(scc.id, True)
            return shown
        tasks.start(scc.id, "interface", None)
        result = phases.check_interface(scc, graph, manager, writes=writes)
        interface_checked(list(result.module_ids))
        tasks.end(scc.id, True)
        tasks.start(scc.id, "implementation", None)
        # No meta file: no `meta_ex` written.
        meta_files: list[str | None] = list(result.meta_files) if writes else [None] * len(result.module_ids)
        shown = phases.check_implementation(list(result.module_ids), meta_files, graph, manager, between_modules)
        tasks.end(scc.id, True)
        return shown
    finally:
        manager.parallel_worker = False


def check_in_coordinator(coordinator: Coordinator, scc_id: int) -> None:
    """Check an SCC in the coordinator's process, at its place in the sequential order.

    While it does, the workers (started at its interface if they pay by
    then) are served: see `serve_workers`.
    """
    c = coordinator
    if scc_id in c.confirming:
        confirm_in_coordinator(c, scc_id)
        return
    # Before this process writes its first cache entry (see parse_gate.py).
    c.gate.before_checking_here()
    c.printer.before_checking_here()
    started = time.perf_counter()
    scc = c.plan.scc(scc_id)
    old_hashes = {module_id: c.graph[module_id].interface_hash for module_id in scc.mod_ids}
    recheck = needs_here(c, scc_id)
    interface_seconds = 0.0

    def interface_checked(module_ids: list[str]) -> None:
        nonlocal interface_seconds
        interface_seconds = time.perf_counter() - started
        sensitivity, records = phases.memory_facts(module_ids, c.graph)
        c.note_sensitive(scc_id, sensitivity)
        c.stored_orders.add(records)
        c.scheduler.interface_done(scc_id)
        if c.pool is None and c.worker_count > 0:
            changed = any(c.graph[module_id].interface_hash != old for module_id, old in old_hashes.items())
            c.stale_work.interface_known(changed, scc.direct_dependents)
            if c.stale_work.workers_pay():
                # They start up while this process checks the bodies.
                c.start_pool()
        # The SCCs this interface unblocks go to idle workers now, not once
        # this process is done with the bodies: as for an interface result
        # from a worker.
        serve_workers(c)

    with soft_limit_here(c):
        checked = check_as_worker(
            scc, c.graph, c.manager, c.tasks, interface_checked, c.stored_orders, after_workers=c.pool is not None,
            recheck=[c.plan.scc(dep) for dep in recheck], between_modules=lambda: serve_workers(c),
        )
    for module_errors in checked:
        c.show(module_errors)
    # The phases apart, as a worker reports them: the next run may share these bodies.
    c.costs.record(scc.mod_ids, c.graph, interface_seconds, time.perf_counter() - started - interface_seconds)
    c.printer.after_checking_here()
    c.scheduler.implementation_done(scc_id)
    c.classify_ready()


def confirm_in_coordinator(c: Coordinator, scc_id: int) -> None:
    """Check again here an SCC a worker checked, for mypy's wording (confirm.py), and show that answer.

    The worker's result already released the dependents and counted for the
    cost model; its cache entries stay, which importers have read, and only
    their errors are replaced.  One span of its own: no new progress.
    """
    c.gate.before_checking_here()
    c.printer.before_checking_here()
    scc = c.plan.scc(scc_id)
    recheck = needs_here(c, scc_id)
    c.tasks.start(scc_id, "confirm", None)
    with soft_limit_here(c):
        checked = check_as_worker(
            scc, c.graph, c.manager, RunningTasks(NULL_OBSERVER, lambda _: len(scc.mod_ids)),
            lambda _: serve_workers(c), c.stored_orders, recheck=[c.plan.scc(dep) for dep in recheck],
            between_modules=lambda: serve_workers(c), writes=False,
        )
    cache_confirmed_errors(c, scc, checked)
    c.tasks.end(scc_id, True)
    for module_errors in checked:
        c.show(module_errors)
    c.printer.after_checking_here()


def soft_limit_here(c: Coordinator) -> AbstractContextManager[None]:
    """With `--soft-error-limit`, the engine here counts on from the entries shown so far (soft_limit.py)."""
    soft_limit = c.printer.soft_limit
    return nullcontext() if soft_limit is None else soft_limit.checking_here(c.manager.errors)


def needs_here(c: Coordinator, scc_id: int) -> list[int]:
    """What this process checks again in memory before the SCC (affinity.py); it then holds all of it."""
    recheck = c.affinity.missing(scc_id, LOCAL)
    c.affinity.assign(scc_id, LOCAL, recheck)
    if recheck:
        modules = " ".join(m for dep in recheck for m in sorted(c.plan.scc(dep).mod_ids))
        c.manager.log(f"This process checks in memory again, before SCC {scc_id}: {modules}")
    return recheck


def cache_confirmed_errors(c: Coordinator, scc: SCC, checked: list[phases.ModuleErrors]) -> None:
    """Each module's `meta_ex` (the worker's) gets the errors found here, as `mypy -n 0` stores them."""
    by_path = phases.path_lookup(list(scc.mod_ids), c.graph, c.manager)
    found = {by_path.get(shown.path or ""): shown.errors for shown in checked}
    for module_id in sorted(scc.mod_ids):
        tuples = found.get(module_id) or []
        phases.rewrite_cached_errors(module_id, tuples, c.source_hashes.get(module_id), c.graph, c.manager)
    c.manager.commit()


def serve_workers(coordinator: Coordinator) -> None:
    """While the coordinator checks an SCC: act on what workers sent, give idle ones work, and go on.

    Nothing is checked in-process meanwhile (dispatch only marks what the
    coordinator takes), and the replay waits until the SCC is done.
    """
    if coordinator.pool is None:
        return
    # Served workers write to the same cache: hold no open transaction of
    # the SQLite store (a module's meta_ex) while they may wait for it.
    coordinator.manager.commit()
    coordinator.handle_events(coordinator.pool, timeout=0)
    coordinator.classify_ready()
    coordinator.dispatch()
