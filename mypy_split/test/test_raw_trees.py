"""What a coordinator keeps and sends when workers check: serialized trees (raw_trees.py), hashes once.

A build is run in this process up to the coordinator (its workers are real
processes) so that the graph it leaves can be inspected: every module the
coordinator parsed must hold only its imports and its kept bytes, and every
task sent to a worker must carry those bytes, and the interface hashes of
its dependencies unless that worker was sent them before.  The answer
itself is proven by the differential cases in test-data/blockers.test.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import NamedTuple

import mypy.main
import pytest
from mypy.build import Graph
from mypy.fscache import FileSystemCache

from mypy_split import driver, engine, parallel, tuning
from mypy_split.build_worker import faults
from mypy_split.framing import FrameReader
from mypy_split.output import MessageSink
from mypy_split.pool import WorkerHandle
from mypy_split.protocol import CheckScc, Message, decode, encode
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool, without_log

PROJECT = {
    "main.py": "import a\nimport b\nx: int = a.f()\n",
    "a.py": "import b\ndef f() -> str:\n    return b.g()\n",
    "b.py": "def g() -> str:\n    y: int = ''\n    return ''\n",
}
PARSED = {"main", "a", "b"}


def whole_trees(graph: Graph) -> list[str]:
    return sorted(module_id for module_id, state in graph.items() if state.tree is not None and state.tree.defs)


class SentTask(NamedTuple):
    worker: int
    message: CheckScc
    # The interface hashes (hex) of the modules of the task's dependencies, as the coordinator has them.
    needed: dict[str, str]


def run_in_this_process(
    project: Path, monkeypatch: pytest.MonkeyPatch, workers: int = 2
) -> tuple[Graph, list[SentTask], str]:
    """A build as the command line makes it: the graph, the tasks sent, the output.

    Whole trees in the coordinator's graph are checked each time a task is
    sent, and again at the end.
    """
    args = ["main.py", "--cache-dir", str(project / "cache")]
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(args, fscache=fscache)
    stdout = io.StringIO()
    sink = MessageSink(options, stdout, io.StringIO())
    parallelism = driver.Parallelism(workers, args, str(project), cold_cache=True)
    manager = engine.open_build(
        sources, options, fscache=fscache, flush_errors=sink.flush_errors, stdout=stdout, stderr=stdout
    )
    manager.errors.global_watcher = True
    sent: list[SentTask] = []
    task_message = parallel.Coordinator.task_message

    def recording(
        coordinator: parallel.Coordinator, worker: WorkerHandle, scc_id: int, recheck: list[int]
    ) -> CheckScc:
        # Through the wire format, as a worker receives it.
        message = decode(encode(task_message(coordinator, worker, scc_id, recheck))[4:])
        assert isinstance(message, CheckScc)
        assert whole_trees(coordinator.graph) == [], "the coordinator built whole trees"
        plan = coordinator.plan
        needed = {
            m: plan.graph[m].interface_hash.hex() for dep in plan.scc(scc_id).deps for m in plan.scc(dep).mod_ids
        }
        sent.append(SentTask(worker.index, message, needed))
        return message

    monkeypatch.setattr(parallel.Coordinator, "task_message", recording)
    try:
        graph = driver.check_program(sources, manager, parallelism, sink)
    finally:
        engine.close_build(manager)
        manager.metastore.close()
    return graph, sent, stdout.getvalue()


@pytest.fixture
def project(tmp_path: Path, warm_cache: WarmCache, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(text)
    shutil.copytree(warm_cache([]), tmp_path / "cache", symlinks=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_coordinator_holds_no_whole_tree_when_workers_check(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.reset_process_caches()
    graph, sent, output = run_in_this_process(project, monkeypatch)
    assert whole_trees(graph) == []
    kept = {module_id for module_id, state in graph.items() if state.tree is not None and state.tree.raw_data}
    assert kept == PARSED
    shipped = {
        module_id for _, task, _ in sent for module_id, blob in zip(task.module_ids, task.raw_trees) if blob
    }
    assert shipped == PARSED
    for _, task, _ in sent:
        assert all(stat is not None for stat in task.stats)
    # The workers' answer is the one a single process gives.
    assert 'main.py:3: error: Incompatible types in assignment (expression has type "str"' in output
    assert "b.py:2: error: Incompatible types in assignment" in output


def test_each_worker_is_sent_each_interface_hash_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hash a task's dependencies need reaches its worker with that task or an earlier one, once."""
    engine.reset_process_caches()
    # One worker gets every task, so later tasks find earlier hashes there.
    graph, sent, output = run_in_this_process(project, monkeypatch, workers=1)
    held: dict[str, str] = {}
    for task in sent:
        repeated = {m for m, h in task.message.expected_hashes.items() if held.get(m) == h}
        assert not repeated, f"sent again: {sorted(repeated)}"
        held.update(task.message.expected_hashes)
        missing = {m for m, h in task.needed.items() if held.get(m) != h}
        assert not missing, f"not sent: {sorted(missing)}"
    assert [task.worker for task in sent] == [0, 0, 0]
    # The first task (b) needs the standard library's hashes; `main`, which
    # needs them and `a` and `b`, is sent only `a`'s.
    first, _, last = (task.message for task in sent)
    assert first.module_ids == ["b"] and len(first.expected_hashes) > 20
    assert last.module_ids == ["main"] and list(last.expected_hashes) == ["a"]
    assert 'main.py:3: error: Incompatible types in assignment (expression has type "str"' in output


def run_with_slow_bodies(
    project: Path, monkeypatch: pytest.MonkeyPatch, pause: float
) -> tuple[list[list[Message]], list[SentTask], str]:
    """`run_in_this_process` with workers pausing `pause` s before each task's bodies; also each read's messages.

    The pause makes results written at different times arrive in different reads.
    """
    engine.reset_process_caches()
    reads = recorded_reads(monkeypatch)
    monkeypatch.setenv(faults.SLOW_BODIES, str(pause))
    _, sent, output = run_in_this_process(project, monkeypatch)
    return reads, sent, output


def recorded_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[Message]]:
    """The messages of each read of the coordinator from a worker's pipe, as the run goes (appended to)."""
    reads: list[list[Message]] = []
    feed = FrameReader.feed

    def recording(reader: FrameReader, data: bytes) -> list[Message]:
        messages = feed(reader, data)
        reads.append(messages)
        return messages

    monkeypatch.setattr(FrameReader, "feed", recording)
    return reads


def test_a_small_task_sends_both_results_in_one_write(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The coordinator wakes up once per small task: its two results arrive in the same read."""
    # Long enough for a result written before the bodies to be read before they end.
    reads, sent, output = run_with_slow_bodies(project, monkeypatch, 0.2)
    assert [task.message.results_together for task in sent] == [True, True, True]
    for task in sent:
        scc_id = task.message.scc_id
        kinds = [[type(m).__name__ for m in read if getattr(m, "scc_id", None) == scc_id] for read in reads]
        assert [k for k in kinds if k] == [["InterfaceDone", "ImplementationDone"]], task.message.module_ids
    assert "b.py:2: error: Incompatible types in assignment" in output


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers for any stale work, however small the project (conftest sets it too).
    monkeypatch.setenv(tuning.POOL_WORTH_VARIABLE, "0")


# A blocker found while checking lists every file not shown yet, in the order
# of each file's first error.  Here mypy reported b.py's error (one only a
# whole tree shows) while loading the graph, before a.py's import error; the
# coordinator learns of it later (load_order.py puts b.py back in its place).
BLOCKER_PROJECT = {
    "main.py": "import a\nimport b\nimport brk\n",
    "a.py": "import missing_a\n",
    "b.py": "type T = int\n",
    "brk.py": 'x: int = ""\nbreak\n',
}


@pytest.mark.parametrize("pool_min_work", ["0", "1000"], ids=["workers", "in-process"])
def test_blocker_lists_files_in_mypys_order(tmp_path: Path, warm_cache: WarmCache, pool_min_work: str) -> None:
    """Differential, on a cold project only: after a blocker the caches differ (see the report)."""
    project = tmp_path / "project"
    project.mkdir()
    for name, text in BLOCKER_PROJECT.items():
        (project / name).write_text(text)
    flags = ["--python-version", "3.10"]
    results: list[RunResult] = []
    for tool, extra in ((MYPY, []), (MYPY_SPLIT, ["-n", "2"])):
        cache = tmp_path / f"cache-{len(results)}"
        shutil.copytree(warm_cache(flags), cache, symlinks=True)
        env = {tuning.POOL_WORTH_VARIABLE: pool_min_work}
        results.append(run_tool(tool, ["main.py", *flags, *extra], project, cache, env))
    expected, actual = results
    assert expected.stdout.startswith('b.py:1: error: "type" statements'), expected.stdout
    assert actual == expected


def test_a_run_again_after_a_load_blocker_logs_once(tmp_path: Path, warm_cache: WarmCache) -> None:
    """With `-v`, the workers' attempt stops at a syntax error and the build runs again in-process:
    only the second build's log is shown, as mypy shows its single build's (one configuration block,
    whose blank line is all that stays once LOG lines are set aside).
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("f()\n1 +\n")
    results: list[RunResult] = []
    for tool, extra in ((MYPY, []), (MYPY_SPLIT, ["-n", "2"])):
        cache = tmp_path / f"cache-{len(results)}"
        shutil.copytree(warm_cache([]), cache, symlinks=True)
        env = {tuning.POOL_WORTH_VARIABLE: "0"}
        results.append(run_tool(tool, ["main.py", "-v", *extra], project, cache, env))
    expected, actual = (without_log(result) for result in results)
    assert expected.stdout.startswith("main.py:2: error:"), expected.stdout
    assert expected.stderr == "\n", expected.stderr
    assert actual == expected
    assert sum(line.startswith("LOG:  Mypy Version:") for line in results[1].stderr.splitlines()) == 1
