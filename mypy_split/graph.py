"""The build plan: the module graph loaded through the engine, cut into SCCs.

`load_plan` returns the engine's graph together with a plain description of
its import cycles (`SccNode`), which is all the scheduler ever sees.
"""

from __future__ import annotations

from typing import NamedTuple

import mypy.build
from mypy.build import SCC, BuildManager, Graph
from mypy.modulefinder import BuildSource

from mypy_split.engine import collector_paused
from mypy_split.meta_pairing import consistent_cache_reads


class SccNode(NamedTuple):
    """One import cycle as the scheduler knows it: ids and edges, nothing else."""

    id: int
    deps: frozenset[int]
    # In the order mypy notifies them: it decides the order of ready lists.
    dependents: tuple[int, ...]
    modules: tuple[str, ...]
    size_hint: int


class BuildPlan:
    """The loaded graph, its SCCs in mypy's topological order, and lookups."""

    def __init__(self, graph: Graph, sccs: list[SCC], nodes: list[SccNode]) -> None:
        self.graph = graph
        self.sccs = sccs
        self.nodes = nodes
        self._by_id = {scc.id: scc for scc in sccs}

    def scc(self, scc_id: int) -> SCC:
        return self._by_id[scc_id]


def load_graph(sources: list[BuildSource], manager: BuildManager) -> Graph:
    """Parse or load from cache every module reachable from the sources.

    Mirrors the engine's own handling: a fine-grained cache that lacks more
    than half of the sources is reloaded honestly with the cache off.  Each
    module's meta and errors are read from one version of the store.
    """
    with collector_paused(manager.options), consistent_cache_reads(manager.metastore):
        graph = mypy.build.load_graph(sources, manager)
        if manager.use_fine_grained_cache() and len(graph) < 0.50 * len(sources):
            manager.log("Redoing load_graph without cache because too much was missing")
            manager.cache_enabled = False
            graph = mypy.build.load_graph(sources, manager)
    for module_id, state in graph.items():
        manager.import_map[module_id] = state.dependencies_set
    return graph


def plan_sccs(graph: Graph, manager: BuildManager) -> BuildPlan:
    """Compute the SCC DAG and register it with the manager as the engine expects.

    The engine's per-SCC calls look SCCs up through `manager.scc_by_id`,
    `top_order` and `scc_by_mod_id` (loading missing dependencies, checking
    indirect dependencies), so these are filled exactly as mypy fills them.
    """
    sccs = mypy.build.sorted_components(graph)
    if sccs:
        # mypy's own `-v` line, at its place.
        manager.log(f"Found {len(sccs)} SCCs; largest has {max(len(scc.mod_ids) for scc in sccs)} nodes")
    manager.scc_by_id = {scc.id: scc for scc in sccs}
    manager.top_order = [scc.id for scc in sccs]
    for scc in sccs:
        for module_id in scc.mod_ids:
            manager.scc_by_mod_id[module_id] = scc
    nodes = [
        SccNode(
            id=scc.id,
            deps=frozenset(scc.deps),
            dependents=tuple(scc.direct_dependents),
            modules=tuple(sorted(scc.mod_ids)),
            size_hint=scc.size_hint,
        )
        for scc in sccs
    ]
    return BuildPlan(graph=graph, sccs=sccs, nodes=nodes)
