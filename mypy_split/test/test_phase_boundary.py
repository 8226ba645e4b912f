"""A run that dies between an SCC's two phases leaves that module stale, never fresh with its old errors.

The interface phase commits a module's new meta; its errors (`meta_ex`)
come with the bodies.  The old `meta_ex` must go with the new meta's commit
(phases.py: in the same transaction with the SQLite store, before and after
it with the file store): a run killed in between, every process at once,
would otherwise leave the new meta beside the previous version's errors,
and the next `mypy` would print those as if the module were fresh.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import MARKERS, STOP_BETWEEN_PHASES
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool
from mypy_split.test.processes import leftovers
from mypy_split.tuning import POOL_WORTH_VARIABLE

OLD_BASE = 'def f() -> int:\n    return "old"\n'
# Another interface (a new function), so `base` is stale, and another body error.
NEW_BASE = "def f() -> int:\n    return None\n\n\ndef g() -> int:\n    return 1\n"
MAIN = "from base import f\n\nx: int = f()\n"
TARGETS = ["main.py", "base.py"]
STORES = {"sqlite": ["--sqlite-cache"], "file-store": ["--no-sqlite-cache"]}
STOP_TIMEOUT = 60.0


@pytest.mark.parametrize("store", STORES)
def test_run_killed_between_phases_leaves_the_module_stale(
    store: str, tmp_path: Path, warm_cache: WarmCache
) -> None:
    flags = STORES[store]
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(OLD_BASE)
    (project / "main.py").write_text(MAIN)
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache(flags), cache, symlinks=True)
    first = run_tool(MYPY, [*flags, *TARGETS, "-n", "0"], project, cache, {})
    assert 'got "str"' in first.stdout, first.describe()

    (project / "base.py").write_text(NEW_BASE)
    reference_cache = tmp_path / "reference-cache"
    shutil.copytree(cache, reference_cache, symlinks=True)
    reference = run_tool(MYPY, [*flags, *TARGETS, "-n", "0"], project, reference_cache, {})
    assert 'got "None"' in reference.stdout and 'got "str"' not in reference.stdout, reference.describe()

    kill_between_phases(project, cache, flags, "base", tmp_path / "markers")

    after = run_tool(MYPY, [*flags, *TARGETS, "-n", "0"], project, cache, {})
    assert after == reference, f"mypy after the killed run:\n{after.describe()}\nexpected:\n{reference.describe()}"


def kill_between_phases(project: Path, cache: Path, flags: list[str], module: str, markers: Path) -> None:
    """Run mypy-split until the worker checking `module` stops after its interface, then SIGKILL every process."""
    markers.mkdir()
    env = dict(os.environ)
    env.pop("MYPY_NUM_WORKERS", None)
    env.update({
        "MYPY_CACHE_DIR": str(cache), "PYTHONSAFEPATH": "1", POOL_WORTH_VARIABLE: "0",
        STOP_BETWEEN_PHASES: module, MARKERS: str(markers),
    })
    process = subprocess.Popen(
        [*MYPY_SPLIT, *flags, *TARGETS, "-n", "2"], cwd=project, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STOP_TIMEOUT
        while not (markers / f"stop-{module}").exists():
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the run ended (exit {process.returncode}) before a worker stopped:\n{stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"no worker stopped between the phases of {module} within {STOP_TIMEOUT} s")
            time.sleep(0.01)
        # The marker is written just before the worker stops itself; its
        # interface is committed by then (InterfaceDone went out after it).
        time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr:
            process.stderr.close()
    # Workers are in the coordinator's process group: none may go on writing.
    deadline = time.monotonic() + 5.0
    while (left := leftovers(project)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left: {left}"
