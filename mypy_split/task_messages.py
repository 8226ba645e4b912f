"""The messages a coordinator sends its workers: the graph, once, and one task per SCC.

A task carries what the worker cannot know by itself: the import errors this
process recorded while loading the graph (only-once notes it already placed
elsewhere left out), the interface hashes its dependencies must have, the
native parser's bytes of its modules (raw_trees.py), and the SCCs a worker
checks again in memory first (exact mode, affinity.py).
"""

from __future__ import annotations

from librt.internal import WriteBuffer
from mypy.build import BuildManager

from mypy_split import phases, raw_trees
from mypy_split.graph import BuildPlan
from mypy_split.protocol import PROTOCOL_VERSION, CheckScc, GraphData, Hello


def graph_message(plan: BuildPlan, manager: BuildManager) -> GraphData:
    """The graph as workers receive it once: states, missing modules, SCCs."""
    states = []
    for state in plan.graph.values():
        buffer = WriteBuffer()
        state.write(buffer)
        states.append(buffer.getvalue())
    return GraphData(
        states=states,
        missing_modules=dict(manager.missing_modules),
        from_cache=[module_id for module_id, state in plan.graph.items() if state.meta],
        sccs=[
            (scc.id, sorted(scc.mod_ids), sorted(scc.deps), transitive_imports_hash(plan, scc.mod_ids))
            for scc in plan.sccs
        ],
    )


def transitive_imports_hash(plan: BuildPlan, module_ids: set[str]) -> str:
    """The SCC's hash of its transitive import structure, which the engine gives each of its modules."""
    return plan.graph[min(module_ids)].trans_dep_hash.hex()


def task_message(
    plan: BuildPlan, manager: BuildManager, scc_id: int, recheck: list[int], hashes_sent: dict[str, bytes]
) -> CheckScc:
    """One SCC's task for a worker: its modules, what they need from this process, what to check again first.

    `hashes_sent` holds the interface hashes the worker was sent before; it
    is brought up to date with those this message sends.
    """
    scc = plan.scc(scc_id)
    module_ids = sorted(scc.mod_ids)
    errors = manager.errors
    import_errors = []
    for module_id in module_ids:
        xpath = plan.graph[module_id].xpath
        kept = {id(info) for info in errors.error_info_map.get(xpath, [])}
        blobs = []
        for info in errors.recorded.get(xpath, []):
            if info.only_once and id(info) not in kept:
                # This process already placed the note on an earlier module.
                continue
            buffer = WriteBuffer()
            info.write(buffer)
            blobs.append(buffer.getvalue())
        import_errors.append(blobs)
    expected = hashes_to_send(plan, [*scc.deps, *recheck], hashes_sent)
    recheck_modules = [m for dep in recheck for m in sorted(plan.scc(dep).mod_ids)]
    raw = [raw_trees.raw_data(plan.graph[module_id]) for module_id in module_ids]
    return CheckScc(
        scc_id=scc_id,
        one_piece=phases.needs_one_piece(scc, plan.graph),
        expected_hashes=expected,
        module_ids=module_ids,
        suppressed_opts=[plan.graph[m].suppressed_deps_opts() for m in module_ids],
        import_errors=import_errors,
        recheck=recheck,
        recheck_modules=recheck_modules,
        recheck_opts=[plan.graph[m].suppressed_deps_opts() for m in recheck_modules],
        raw_trees=[b"" if data is None else raw_trees.serialize(data) for data in raw],
        stats=[
            None if data is None else raw_trees.file_stat(manager, plan.graph[module_id])
            for module_id, data in zip(module_ids, raw)
        ],
        imports_ignored=[dict(plan.graph[module_id].imports_ignored) for module_id in module_ids],
    )


def hashes_to_send(plan: BuildPlan, scc_ids: list[int], hashes_sent: dict[str, bytes]) -> dict[str, str]:
    """The interface hashes of these SCCs' modules that the worker does not hold yet, as hex.

    A worker keeps the hashes it is sent, so each one crosses the pipe once
    per worker instead of with every dependent task (on 3,000 small modules,
    some 150,000 entries a run); one that changed since (an SCC checked
    again elsewhere after a fault) is sent again.
    """
    new: dict[str, str] = {}
    for scc_id in scc_ids:
        for module_id in plan.scc(scc_id).mod_ids:
            value = plan.graph[module_id].interface_hash
            if hashes_sent.get(module_id) != value:
                new[module_id] = value.hex()
                hashes_sent[module_id] = value
    return new


def hello_for(argv: list[str], cwd: str, cache_dir: str | None, report_root: str | None = None) -> Hello:
    """The first message every worker gets: how to set up the same build as the coordinator."""
    return Hello(version=PROTOCOL_VERSION, argv=argv, cwd=cwd, cache_dir=cache_dir, report_root=report_root)
