"""`-v` in one process logs mypy's own lines, at their places; with workers, the answer is mypy's.

With workers the coordinator logs its own steps and the workers' logs are
not relayed (README, "Known limits"), so there only what is not a log line
is compared.  In one process the log is part of being a drop-in: scripts
grep it ("Loaded graph with", "Build finished in").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split import tuning
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, durations_masked, run_tool, without_log

PROJECT = {
    "main.py": "import a\nimport b\nx: int = a.f()\n",
    "a.py": "import b\ndef f() -> str:\n    return b.g()\n",
    "b.py": "def g() -> str:\n    return ''\n",
}


def run_steps(
    tmp_path: Path, warm_cache: WarmCache, command: list[str], extra: list[str], label: str
) -> list[RunResult]:
    """A cold run, then an edit of `b`; the cache is used from one folder name, which the log shows."""
    project = tmp_path / "project"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir()
    for name, text in PROJECT.items():
        (project / name).write_text(text)
    kept = tmp_path / f"cache-{label}"
    shutil.copytree(warm_cache([]), kept, symlinks=True)
    active = tmp_path / "cache"
    results = []
    for step in range(2):
        if step == 1:
            (project / "b.py").write_text("def g() -> str:\n    return 'edited'\n")
        kept.rename(active)
        try:
            env = {tuning.POOL_WORTH_VARIABLE: "0"}
            results.append(durations_masked(run_tool(command, ["main.py", "-v", *extra], project, active, env)))
        finally:
            active.rename(kept)
    return results


def test_one_process_logs_what_mypy_logs(tmp_path: Path, warm_cache: WarmCache) -> None:
    expected = run_steps(tmp_path, warm_cache, MYPY, [], "mypy")
    actual = run_steps(tmp_path, warm_cache, MYPY_SPLIT, ["-n", "0"], "split")
    for wanted, got in zip(expected, actual):
        assert "LOG:  Loaded graph with" in wanted.stderr and "LOG:  Build finished in" in wanted.stderr
        assert got == wanted


@pytest.mark.parametrize("workers", ["1", "2"])
def test_with_workers_the_answer_is_mypys(tmp_path: Path, warm_cache: WarmCache, workers: str) -> None:
    expected = run_steps(tmp_path, warm_cache, MYPY, [], "mypy")
    actual = run_steps(tmp_path, warm_cache, MYPY_SPLIT, ["-n", workers], "split")
    for wanted, got in zip(expected, actual):
        assert wanted.stdout.startswith("main.py:3: error:"), wanted.stdout
        assert without_log(got) == without_log(wanted)
        assert "LOG:  Loaded graph with" in got.stderr
