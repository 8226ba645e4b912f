"""Small tasks sent to a worker as a batch (batches.py): results in one write, a lost batch, mypy's answer.

The project is many small modules that become ready together, so that the
coordinator has a queue of small tasks to batch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split import engine, tuning
from mypy_split.build_worker import faults
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool, without_log
from mypy_split.test.test_raw_trees import SentTask, run_in_this_process, run_with_slow_bodies

LEAVES = 24
CULPRIT = "leaf13"


def leaf_source(index: int) -> str:
    if index % 3 == 0:
        return f"def f{index}() -> int:\n    return 'no'\n"
    return f"VALUE_{index}: int = {index}\n"


@pytest.fixture
def project(tmp_path: Path, warm_cache: WarmCache, monkeypatch: pytest.MonkeyPatch) -> Path:
    imports = "".join(f"import leaf{index}\n" for index in range(LEAVES))
    (tmp_path / "main.py").write_text(imports + "x: str = leaf1.VALUE_1\n")
    for index in range(LEAVES):
        (tmp_path / f"leaf{index}.py").write_text(leaf_source(index))
    shutil.copytree(warm_cache([]), tmp_path / "cache", symlinks=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(tuning.POOL_WORTH_VARIABLE, "0")
    return tmp_path


def batches_sent(sent: list[SentTask]) -> list[list[int]]:
    """The SCC ids of each batch, per worker in the order sent: a batch ends with a task that holds nothing."""
    open_batches: dict[int, list[int]] = {}
    batches: list[list[int]] = []
    for task in sent:
        batch = open_batches.setdefault(task.worker, [])
        batch.append(task.message.scc_id)
        if not task.message.hold_results:
            batches.append(open_batches.pop(task.worker))
    assert not open_batches, f"a batch whose last task holds its results: {open_batches}"
    return batches


def test_a_batch_sends_its_results_in_one_write(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each SCC of a batch reports both results in the read that brings the batch's last result."""
    reads, sent, output = run_with_slow_bodies(project, monkeypatch, 0.05)
    batches = [batch for batch in batches_sent(sent) if len(batch) > 1]
    assert batches, "no batch was sent"
    for batch in batches:
        together = next(read for read in reads if any(getattr(m, "scc_id", None) == batch[-1] for m in read))
        arrived = [(type(m).__name__, getattr(m, "scc_id", None)) for m in together]
        for scc_id in batch:
            assert ("InterfaceDone", scc_id) in arrived and ("ImplementationDone", scc_id) in arrived, arrived
    for index in range(0, LEAVES, 3):
        assert f"leaf{index}.py:2: error: Incompatible return value type" in output
    assert 'main.py:25: error: Incompatible types in assignment (expression has type "int"' in output


def test_without_batches_each_task_holds_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.reset_process_caches()
    monkeypatch.setenv(tuning.BATCH_VARIABLE, "0")
    _, sent, _ = run_in_this_process(project, monkeypatch)
    assert len(sent) == LEAVES + 1
    assert not any(task.message.hold_results for task in sent)


def run_both(project: Path, tmp_path: Path, warm_cache: WarmCache, env: dict[str, str]) -> tuple[RunResult, RunResult]:
    """`mypy -v`, then `mypy-split -n 2 -v` with `env`, each on its own copy of the warm cache."""
    results: list[RunResult] = []
    for tool, extra in ((MYPY, []), (MYPY_SPLIT, ["-n", "2"])):
        cache = tmp_path / f"cache-{len(results)}"
        shutil.copytree(warm_cache([]), cache, symlinks=True)
        results.append(run_tool(tool, ["main.py", "-v", *extra], project, cache, env))
    return results[0], results[1]


def test_a_worker_lost_in_a_batch(project: Path, tmp_path: Path, warm_cache: WarmCache) -> None:
    """The first worker to start one SCC of a batch dies: the batch runs again, each SCC alone; mypy's answer."""
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {faults.CRASH_ON: CULPRIT, faults.MARKERS: str(markers), tuning.POOL_WORTH_VARIABLE: "0"}
    expected, actual = run_both(project, tmp_path, warm_cache, env)
    assert (markers / f"crash-{CULPRIT}").exists()
    assert "was lost in a batch: its SCCs are queued again, each alone" in actual.stderr, actual.stderr[-3000:]
    assert without_log(actual) == without_log(expected)


def test_an_scc_that_kills_workers_in_a_batch_is_named(project: Path, tmp_path: Path, warm_cache: WarmCache) -> None:
    """Every worker that starts it dies: lost once in a batch, once alone, then named; exit 2."""
    env = {faults.CRASH_ON: CULPRIT, tuning.POOL_WORTH_VARIABLE: "0"}
    _, actual = run_both(project, tmp_path, warm_cache, env)
    assert "was lost in a batch" in actual.stderr
    errors = [line for line in actual.stderr.splitlines() if line.startswith("mypy-split: error:")]
    assert actual.returncode == 2 and errors, actual.stderr[-3000:]
    assert CULPRIT in errors[0] and "killed by SIGKILL" in errors[0], errors[0]
