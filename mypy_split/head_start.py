"""A head start for the builtins cycle: checked by a worker while the coordinator loads the graph.

On an empty cache every module of a program waits for one SCC, the import
cycle of `builtins`, `typing` and some 40 other standard-library stubs:
nothing else can start before its interface is known.  The coordinator
first loads the whole graph (about 0.7 s for mypy's self-check), so that
cycle would start only then, with every worker idle meanwhile.

Instead, on a run with an empty cache, the first worker loads just what
`builtins` imports, which on the bundled typeshed is that cycle and nothing
else (0.1 s), and starts checking it at once, as a task of its own.  It
describes each module it loaded (`describe`): file, source hash, imports and
their priorities.  Once the coordinator's graph is loaded, it compares
(`matching_scc`): if its own SCC of `builtins` has the same modules, each
described the same way, and nothing to replay for them, the worker's check
is the one the coordinator would have asked for, and it becomes that SCC's
task.  Otherwise that worker is stopped (and waited for), and the SCC is
checked like any other, its entries written again.  The worker may commit
the cycle's entries before a big graph is loaded: that load reads no meta
at all (the cache was empty when the run began), so it cannot find them.

This module holds the rules (`describe`, `why_not_ahead`, `matching_scc`)
and the coordinator's steps (`settle`, `on_report`, `renamed_result`);
the worker's are in build_worker/head_start.py.

Checking ahead needs the whole cycle under the engine's silence (`ignore_all`:
its errors are never shown, so where its imports came from does not matter),
with no dependency outside it and none of its modules among the sources.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, TypeAlias

from mypy.build import BuildManager, Graph, State

from mypy_split import phases
from mypy_split.build_worker import faults

if TYPE_CHECKING:
    from mypy_split.graph import BuildPlan
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerHandle
    from mypy_split.protocol import HeadStart, ImplementationDone, InterfaceDone, JsonValue, TaskFailed

    HeadStartResult: TypeAlias = InterfaceDone | ImplementationDone | TaskFailed

HEAD_MODULE = "builtins"


def describe(state: State) -> dict[str, JsonValue]:
    """What a module's check depends on beyond the options every process of the run shares."""
    return {
        "id": state.id,
        "path": state.xpath,
        "source_hash": state.source_hash,
        "ignore_all": state.ignore_all,
        "dependencies": list(state.dependencies),
        "suppressed": list(state.suppressed),
        "priorities": dict(state.priorities),
        "dep_lines": dict(state.dep_line_map),
    }


def why_not_ahead(module_ids: set[str], deps: set[int], graph: Graph, source_modules: set[str]) -> str | None:
    """Why a worker's SCC of `builtins`, loaded alone, cannot be checked ahead; None if it can."""
    if deps or set(graph) != module_ids:
        return "the builtins cycle imports modules outside it"
    among_sources = sorted(module_ids & source_modules)
    if among_sources:
        return f"{among_sources[0]} is among the sources"
    loud = sorted(module_id for module_id in module_ids if not graph[module_id].ignore_all)
    if loud:
        return f"errors in {loud[0]} would be shown"
    return None


def matching_scc(modules: list[dict[str, JsonValue]], plan: BuildPlan, manager: BuildManager) -> tuple[int | None, str]:
    """The plan's SCC a worker's head start checked, or None and why it is not the same."""
    graph = plan.graph
    head = manager.scc_by_mod_id.get(HEAD_MODULE)
    if head is None:
        return None, f"no {HEAD_MODULE} in the graph"
    if head.deps:
        return None, "the builtins cycle has dependencies here"
    ids = [module.get("id") for module in modules]
    if len(ids) != len(head.mod_ids) or set(ids) != head.mod_ids:
        return None, "the builtins cycle has other modules here"
    for module in modules:
        state = graph[str(module["id"])]
        if describe(state) != module:
            return None, f"{state.id} was loaded differently"
        if manager.errors.recorded.get(state.xpath):
            return None, f"{state.id} has errors to replay"
    return head.id, ""


# -- the coordinator's steps -----------------------------------------------------


def settle(coordinator: Coordinator) -> None:
    """Wait for the report of the worker checking ahead, then adopt its work or stop it."""
    pool = coordinator.ensure_pool()
    faults.before_judging_head_start()
    while coordinator.head_start_worker is not None:
        coordinator.handle_events(pool)
    # The cycle's results may have come with the report (a small program's
    # graph loads slower than the cycle is checked): its importers are ready.
    coordinator.classify_ready()


def on_report(coordinator: Coordinator, worker: WorkerHandle, message: HeadStart) -> None:
    """Judge a worker's head start: adopt its task, or stop it (declined: a worker like the others)."""
    coordinator.head_start_worker = None
    if not message.modules:
        # Declined: a worker like the others (or, having loaded modules of its own, gone).
        coordinator.manager.log(f"Worker {worker.index} does not check the builtins cycle ahead: {message.declined}")
        return
    scc_id, why = matching_scc(message.modules, coordinator.plan, coordinator.manager)
    if scc_id is not None:
        if message.one_piece != phases.needs_one_piece(coordinator.plan.scc(scc_id), coordinator.graph):
            scc_id, why = None, "it was checked in one piece here and not there, or the reverse"
        elif coordinator.fresh.get(scc_id) is not False or scc_id not in coordinator.scheduler.queued_in_order():
            scc_id, why = None, "the builtins cycle is not waiting for a worker here"
    if scc_id is None:
        coordinator.manager.log(f"Worker {worker.index} checked the builtins cycle ahead in vain: {why}")
        worker.retire()
        return
    coordinator.manager.log(f"Worker {worker.index} checks the builtins cycle (SCC {scc_id}) ahead")
    coordinator.scheduler.take(scc_id)
    coordinator.affinity.assign(scc_id, worker.index)
    coordinator.head_start_scc[worker.index] = scc_id
    coordinator.begin_task(worker, scc_id, message.one_piece)


def renamed_result(coordinator: Coordinator, worker: WorkerHandle, message: HeadStartResult) -> HeadStartResult | None:
    """A result of the worker's head start, under its SCC's id; None if its work was not adopted."""
    scc_id = coordinator.head_start_scc.get(worker.index)
    if scc_id is None:
        # It failed before its report (or after it was refused): no work of it is used.
        coordinator.head_start_worker = None
        worker.retire()
        return None
    return dataclasses.replace(message, scc_id=scc_id)
