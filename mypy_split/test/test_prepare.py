"""Trees built ahead by idle workers: what the coordinator deals out and prefers, what a worker keeps.

The answer with trees built ahead is proven by the differential suite (every
cold run with workers builds some while the builtins cycle is checked);
these pin the decisions and the worker's rule that nothing is reported
ahead of a task.
"""

from __future__ import annotations

import io
from pathlib import Path

import mypy.main
import pytest
from mypy.build import BuildManager, Graph
from mypy.errors import CompileError
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource

from mypy_split import engine, raw_trees
from mypy_split.build_worker.prepared import PreparedTrees
from mypy_split.graph import load_graph
from mypy_split.prepare import TreePreparer, choose_batch, pick_from
from mypy_split.protocol import PrepareTrees, decode, encode
from mypy_split.task_messages import prepare_message


def test_a_batch_takes_waiting_sccs_in_order_up_to_the_budget() -> None:
    sizes: dict[int, int | None] = {1: 300, 2: None, 3: 500, 4: 100, 5: 50}
    assert choose_batch([1, 2, 3, 4, 5], sizes, 800) == [1, 3]
    assert choose_batch([1, 2, 3, 4, 5], sizes, 900) == [1, 3, 4]
    # One too big for the budget still goes alone, so that no SCC is never built.
    assert choose_batch([3, 4], sizes, 200) == [3]
    assert choose_batch([2], sizes, 800) == []
    assert choose_batch([], sizes, 800) == []


def test_a_worker_takes_its_own_prepared_scc_then_one_prepared_nowhere() -> None:
    prepared_on = {10: 1, 11: 0, 12: 1}
    assert pick_from([11, 10, 13], 1, prepared_on) == 10
    assert pick_from([11, 13, 10], 0, prepared_on) == 11
    assert pick_from([10, 12, 13, 14], 0, prepared_on) == 13
    assert pick_from([10, 12], 0, prepared_on) is None
    assert pick_from([], 0, prepared_on) is None


def make_preparer(sizes: dict[int, int | None], modules: dict[int, list[str]]) -> TreePreparer:
    preparer = TreePreparer({}, lambda scc_id: modules[scc_id], enabled=True)
    preparer._sizes = dict(sizes)
    return preparer


def test_waiting_sccs_are_dealt_to_the_workers_in_turn() -> None:
    modules = {scc_id: [f"m{scc_id}"] for scc_id in range(1, 8)}
    preparer = make_preparer({1: 10, 2: 10, 3: None, 4: 10, 5: 10, 6: 10, 7: 10}, modules)
    waiting = [1, 2, 3, 4, 5, 6, 7]
    # Worker 1 of 2, while worker 0 checks the builtins cycle: every other eligible SCC.
    assert preparer.next_batch(1, waiting, 2, 20) == [2, 5]
    assert preparer.next_batch(1, waiting, 2, 20) == []  # its batch is still in flight
    preparer.built(1, ["m2"])
    assert preparer.prepared_on == {2: 1}
    # 5 was left alone (an error, say): it is never offered again.
    assert preparer.next_batch(1, waiting, 2, 20) == [7]
    preparer.built(1, ["m7"])
    # Its own are done; still idle, it builds those dealt to the busy worker.
    assert preparer.next_batch(1, waiting, 2, 100) == [1, 4, 6]
    preparer.built(1, ["m1", "m4", "m6"])
    assert preparer.next_batch(1, waiting, 2, 100) == []
    assert preparer.exhausted
    assert preparer.next_batch(0, waiting, 2, 100) == []


def test_a_prepared_scc_counts_once_started_and_is_forgotten_with_its_worker() -> None:
    modules = {1: ["a", "b"], 2: ["c"], 3: ["d"]}
    preparer = make_preparer({1: 10, 2: 10, 3: 10}, modules)
    assert preparer.next_batch(1, [1, 2, 3], 1, 100) == [1, 2, 3]
    preparer.built(1, ["a", "b", "c", "d"])
    assert preparer.pick([3, 1], 1) == 3
    preparer.started(1, 1)
    preparer.started(2, 0)
    assert preparer.used_modules == 2
    assert preparer.prepared_on == {3: 1}
    preparer.lost(1)
    assert preparer.prepared_on == {}
    assert preparer.pick([3], 0) is None


def test_an_scc_partly_left_alone_is_not_prepared() -> None:
    preparer = make_preparer({1: 10}, {1: ["a", "b"]})
    preparer.next_batch(0, [1], 1, 100)
    preparer.built(0, ["a"])
    assert preparer.prepared_on == {}


def test_turned_off_it_sends_nothing() -> None:
    preparer = TreePreparer({}, lambda scc_id: ["m"], enabled=False)
    assert preparer.next_batch(1, [1, 2], 2, 100) == []


# -- the worker's side ----------------------------------------------------------------

PROJECT = {
    "main.py": "import clean, inline, twice\n",
    "clean.py": "def f(x: int) -> int:\n    return x\n\nclass C:\n    y = f(1)\n",
    # Inline options change how the tree is built: left to the task.
    "inline.py": "# mypy: disallow-untyped-defs\ndef g(x): return x\n",
    # Only a whole tree shows this error: building it ahead must report nothing.
    "twice.py": "def h(a: int, a: int) -> None:\n    pass\n",
}


def loaded_with_imports_only(project: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Graph, BuildManager]:
    for name, text in PROJECT.items():
        (project / name).write_text(text)
    monkeypatch.chdir(project)
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(["main.py", "--cache-dir", str(project / "cache")], fscache=fscache)
    stdout = io.StringIO()
    manager = engine.open_build(
        sources, options, fscache=fscache, flush_errors=lambda *args: None, stdout=stdout, stderr=stdout
    )
    with raw_trees.imports_only(manager, True):
        graph = load_graph([BuildSource(str(project / "main.py"), "main")], manager)
    return graph, manager


def test_a_worker_keeps_only_trees_built_without_a_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, manager = loaded_with_imports_only(tmp_path, monkeypatch)
    message = prepare_message_from(graph, manager, ["clean", "inline", "twice"])
    # As in a worker: the states came without trees.
    for module_id in message.module_ids:
        graph[module_id].tree = None
        manager.modules.pop(module_id, None)
    errors_before = {path: list(infos) for path, infos in manager.errors.error_info_map.items()}

    prepared = PreparedTrees()
    assert prepared.build(message, graph, manager) == ["clean"]

    clean_tree = graph["clean"].tree
    assert clean_tree is not None and clean_tree.defs and manager.modules["clean"] is clean_tree
    assert graph["inline"].tree is None and graph["twice"].tree is None
    assert "twice" not in manager.modules and "twice" not in manager.ast_cache
    assert manager.errors.error_info_map == errors_before
    assert not manager.errors.is_blockers()
    # Building it again, as its task would, still reports the error.
    with pytest.raises(CompileError, match='Duplicate parameter "a"'):
        graph["twice"].parse_file(raw_data=raw_trees.deserialize(message.raw_trees[2]))

    assert prepared.take(graph["clean"])
    assert not prepared.take(graph["clean"])  # taken once
    assert not prepared.take(graph["inline"])


def test_a_tree_replaced_since_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, manager = loaded_with_imports_only(tmp_path, monkeypatch)
    message = prepare_message_from(graph, manager, ["clean"])
    graph["clean"].tree = None
    prepared = PreparedTrees()
    assert prepared.build(message, graph, manager) == ["clean"]
    # As when the module is loaded from the cache for a task checked elsewhere.
    graph["clean"].tree = None
    graph["clean"].parse_file(raw_data=raw_trees.deserialize(message.raw_trees[0]))
    assert not prepared.take(graph["clean"])


def prepare_message_from(graph: Graph, manager: BuildManager, module_ids: list[str]) -> PrepareTrees:
    """The message as a worker receives it, through the wire format."""
    message = decode(encode(prepare_message(graph, manager, module_ids))[4:])
    assert isinstance(message, PrepareTrees)
    return message
