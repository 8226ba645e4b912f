"""`-v` in one process logs mypy's own lines, at their places; with workers, the answer is mypy's.

With workers the coordinator logs its own steps and the workers' logs are
not relayed (README, "Known limits"), so there only what is not a log line
is compared.  In one process the log is part of being a drop-in: scripts
grep it ("Loaded graph with", "Build finished in").
"""

from __future__ import annotations

import re
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


_SCC_LISTING = re.compile(r"^(LOG:  Scheduling SCC of size \d+ \()([^)]*)(\).*)$", re.MULTILINE)


def scc_listings_sorted(result: RunResult) -> RunResult:
    """An SCC's modules are logged in the order of a set of strings, which differs from run to run."""
    stderr = _SCC_LISTING.sub(lambda m: m.group(1) + " ".join(sorted(m.group(2).split())) + m.group(3), result.stderr)
    return RunResult(result.stdout, stderr, result.returncode)


def run_steps(
    tmp_path: Path, warm_cache: WarmCache, command: list[str], extra: list[str], label: str
) -> list[RunResult]:
    """A cold run, an edit of `b`, then `--cache-fine-grained` on a cache without its dependencies
    (mypy loads the graph again, logging its configuration again); the cache is used from one
    folder name, which the log shows."""
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
    for step in range(3):
        if step == 1:
            (project / "b.py").write_text("def g() -> str:\n    return 'edited'\n")
        flags = ["--cache-fine-grained"] if step == 2 else []
        kept.rename(active)
        try:
            env = {tuning.POOL_WORTH_VARIABLE: "0"}
            args = ["main.py", "-v", *flags, *extra]
            results.append(scc_listings_sorted(durations_masked(run_tool(command, args, project, active, env))))
        finally:
            active.rename(kept)
    return results


def test_one_process_logs_what_mypy_logs(tmp_path: Path, warm_cache: WarmCache) -> None:
    expected = run_steps(tmp_path, warm_cache, MYPY, [], "mypy")
    actual = run_steps(tmp_path, warm_cache, MYPY_SPLIT, ["-n", "0"], "split")
    for wanted, got in zip(expected, actual):
        assert "LOG:  Loaded graph with" in wanted.stderr and "LOG:  Build finished in" in wanted.stderr
        assert got == wanted
    assert expected[2].stderr.count("LOG:  Mypy Version:") == 2, expected[2].stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_with_workers_the_answer_is_mypys(tmp_path: Path, warm_cache: WarmCache, workers: str) -> None:
    expected = run_steps(tmp_path, warm_cache, MYPY, [], "mypy")
    actual = run_steps(tmp_path, warm_cache, MYPY_SPLIT, ["-n", workers], "split")
    for wanted, got in zip(expected, actual):
        assert wanted.stdout.startswith("main.py:3: error:"), wanted.stdout
        assert without_log(got) == without_log(wanted)
        assert "LOG:  Loaded graph with" in got.stderr
