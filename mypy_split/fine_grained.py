"""The fine-grained dependency cache (`--cache-fine-grained`) at any worker count.

The engine gathers fine-grained dependencies in the process that checks each
module.  With workers, each task sends back what it found and the coordinator
merges it here; at the end the coordinator writes `*.deps.json` exactly as a
single process would, so a daemon started from the cache finds the same
dependents.

One detail decides which files are written: a single process writes a deps
file for every module it holds a tree for, which is every stale module plus
every module a stale SCC depends on, directly or not (those are loaded from
the cache before the SCC is checked).  The coordinator holds few trees, so it
computes that set from the plan instead of asking the states.
"""

from __future__ import annotations

import mypy.build
from mypy.build import BuildManager, Graph
from mypy.typestate import type_state
from mypy.util import module_prefix

from mypy_split.graph import BuildPlan


def merge_task_deps(manager: BuildManager, deps: dict[str, list[str]]) -> None:
    """Add one task's dependencies (trigger -> targets) to the build's map."""
    for trigger, targets in deps.items():
        manager.fg_deps.setdefault(trigger, set()).update(targets)


def modules_with_trees(plan: BuildPlan, stale_scc_ids: set[int]) -> set[str]:
    """The modules a single process would hold trees for after this build."""
    seen: set[int] = set()
    to_visit = list(stale_scc_ids)
    while to_visit:
        scc_id = to_visit.pop()
        if scc_id in seen:
            continue
        seen.add(scc_id)
        to_visit.extend(plan.scc(scc_id).deps)
    return {module_id for scc_id in seen for module_id in plan.scc(scc_id).mod_ids}


def write_cache(manager: BuildManager, graph: Graph, with_trees: set[str] | None) -> None:
    """Write `*.deps.json` and the deps meta for the whole program.

    `with_trees` is None when this process checked everything itself (its
    states then say which modules it processed).
    """
    # Protocol dependencies are a property of the whole program.
    type_state.add_all_protocol_deps(manager.fg_deps)
    if with_trees is None:
        by_module = mypy.build.generate_deps_for_cache(manager, graph)
    else:
        by_module = deps_by_module(manager, graph, with_trees)
    mypy.build.write_deps_cache(by_module, manager, graph)


def deps_by_module(
    manager: BuildManager, graph: Graph, with_trees: set[str]
) -> dict[str, dict[str, set[str]]]:
    """Split the map by the module each trigger belongs to, and merge in older entries.

    A trigger whose module is outside the processed set goes to the engine's
    root entry, as the engine files it.
    """
    # Here, not at the top: every run imports this module, and the engine's
    # fine-grained server costs a few milliseconds to import.
    from mypy.server.deps import merge_dependencies
    from mypy.server.target import trigger_to_target

    by_module: dict[str, dict[str, set[str]]] = {
        module_id: {} for module_id in graph if module_id in with_trees
    }
    for trigger, targets in manager.fg_deps.items():
        owner = module_prefix(graph, trigger_to_target(trigger))
        if owner is None or owner not in with_trees:
            owner = mypy.build.FAKE_ROOT_MODULE
        by_module.setdefault(owner, {}).setdefault(trigger, set()).update(targets)
    for module_id, deps in by_module.items():
        merge_dependencies(manager.load_fine_grained_deps(module_id), deps)
    return by_module
