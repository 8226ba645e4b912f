"""Cache entries that cannot be written: the run still gives mypy's answer.

The engine only logs a failed cache write and goes on, and `mypy -n 0` needs
nothing more: it holds every module it checked in memory.  With workers, a
dependent checked in another process reads its dependency from the cache, so
a task whose entries did not reach the disk must fail (and be checked again
where its dependents can see it), never pass for written.

Here the failure is real, not injected: in the file store, a regular file
stands where a package's cache folder must be, so every entry below it fails
to be written (ENOTDIR), in the workers and in the coordinator alike.  `mypy`
gets the same obstacle in a cache of its own.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool
from mypy_split.test.projects import generate

PROJECT = generate(23, modules=40, packages=3, cycles=4, missing=1)
FILE_STORE = ["--no-sqlite-cache"]


def blocked_cache(warm_cache: WarmCache, destination: Path, package_path: str) -> Path:
    """A copy of the warm file-store cache in which `package_path` cannot hold entries."""
    shutil.copytree(warm_cache(FILE_STORE), destination, symlinks=True)
    (version_folder,) = [path for path in destination.iterdir() if path.is_dir()]
    blocker = version_folder / package_path
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder\n")
    return destination


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("blocked", ["pkga", "pkgb"], ids=["first-package", "middle-package"])
def test_unwritable_entries_give_mypys_answer(
    tmp_path: Path, warm_cache: WarmCache, blocked: str, workers: int
) -> None:
    project = PROJECT.write(tmp_path / "project")
    args = [*PROJECT.targets, *FILE_STORE]
    theirs = blocked_cache(warm_cache, tmp_path / "mypy", blocked)
    ours = blocked_cache(warm_cache, tmp_path / "split", blocked)
    # Twice: the second run finds the other packages' entries and none of the blocked one.
    for attempt in range(2):
        expected = run_tool(MYPY, args, project, theirs, {})
        assert expected.returncode == 1 and "error:" in expected.stdout, expected.describe()
        # The failed write fails its task, which this process then checks.
        actual = run_tool(MYPY_SPLIT, [*args, "-n", str(workers), "-v"], project, ours, {FAILED_TASKS_FATAL: ""})
        difference = "".join(
            difflib.unified_diff(expected.stdout.splitlines(True), actual.stdout.splitlines(True), "mypy", "mypy-split")
        )
        assert (actual.stdout, actual.returncode) == (expected.stdout, expected.returncode), (
            f"run {attempt + 1}, exit {actual.returncode}:\n{difference}\n{actual.stderr[-3000:]}"
        )
        # A worker's write did fail: the case tests what it says.
        assert "was not written): this process checks it" in actual.stderr, actual.stderr[-3000:]
