"""Concurrent runs, targeted: a plain `mypy` committing between the two halves of a module's pair.

mypy commits a module's meta when its interface is checked and its `meta_ex`
after the bodies; so do we.  Each case puts another process's commit at one
of the moments in between, on the project and cache of `test_concurrent.py`,
and checks that mypy-split neither writes nor reads a meta beside errors
that are not its (`mypy_split/meta_pairing.py`).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool
from mypy_split.test.test_concurrent import (
    STORES,
    Run,
    World,
    answer,
    check_cache_left,
    check_finished,
    stopped_worker,
    wait_for_leftovers,
    world,
)
from mypy_split.test.fault_runs import MARKERS, STOP_BETWEEN_PHASES

__all__ = ["world"]  # The fixture, shared with test_concurrent.py.


@pytest.mark.parametrize("store", sorted(STORES))
def test_errors_are_not_left_beside_a_meta_mypy_wrote_between_the_phases(world: World, store: str) -> None:
    """A plain strict `mypy` commits its own pair for a module while our worker is between the phases.

    The default run's `meta_ex`, written when its worker resumes, must not
    pair the strict meta with the default configuration's errors: a later
    strict run would print those (the waves once caught this).
    """
    markers = world.root / "markers"
    markers.mkdir()
    env = {STOP_BETWEEN_PHASES: "app.service", MARKERS: str(markers)}
    default = Run(world, ("mypy-split", "default.ini", store, 2), 0, env)
    worker = stopped_worker(default)
    strict = Run(world, ("mypy", "strict.ini", store, 0), 1)
    assert answer(strict.finish()) == answer(world.reference(world.variant, "strict.ini"))
    os.kill(worker, signal.SIGCONT)
    problems = check_finished(world, [default], [world.variant], "the default run, resumed")
    problems += wait_for_leftovers(world.project)
    after = Run(world, ("mypy-split", "strict.ini", store, 0), 2)
    problems += check_finished(world, [after], [world.variant], "a strict run after both")
    problems += check_cache_left(world)
    assert not problems, "\n\n".join(problems)


def run_on(world: World, tool: list[str], config: str, store: str, cache: Path) -> RunResult:
    return run_tool(tool, ["--config-file", config, *STORES[store], "-n", "0", "app"], world.project, cache, {})


def transplant_strict_entries(world: World, store: str, names: list[str], fresh: set[str]) -> None:
    """Put a strict `mypy` run's entries of these names into the shared store, as its commits would.

    Those named in `fresh` are written now; the others keep their time.
    """
    strict_cache = world.root / f"strict-cache-{store}"
    if not strict_cache.exists():
        shutil.copytree(world.warm, strict_cache, symlinks=True)
        run_on(world, MYPY, "strict.ini", store, strict_cache)
    if store == "files":
        transplant_files(strict_cache, world.cache, names, fresh)
        return
    rows = {}
    for path in sorted(strict_cache.glob("*/cache*.db")):
        with sqlite3.connect(path) as db:
            for name in names:
                found = db.execute("SELECT data, mtime FROM files2 WHERE path = ?", (name,)).fetchone()
                if found is not None:
                    rows[name] = (found[0], time.time() if name in fresh else found[1])
    assert sorted(rows) == sorted(names), f"the strict run left {sorted(rows)} of {names}"
    replaced = 0
    for path in sorted(world.cache.glob("*/cache*.db")):
        with sqlite3.connect(path) as db:
            for name, (data, mtime) in rows.items():
                replaced += db.execute(
                    "UPDATE files2 SET data = ?, mtime = ? WHERE path = ?", (data, mtime, name)
                ).rowcount
    assert replaced == len(names)


def transplant_files(source: Path, target: Path, names: list[str], fresh: set[str]) -> None:
    """The file store's version: each file replaced as mypy writes it (a new file renamed into place)."""
    [version] = [folder.name for folder in source.iterdir() if (folder / "app").is_dir()]
    for name in names:
        origin = source / version / name
        destination = target / version / name
        assert origin.exists() and destination.exists(), name
        staged = destination.with_name(destination.name + ".new")
        if name in fresh:
            shutil.copyfile(origin, staged)
        else:
            shutil.copy2(origin, staged)
        os.replace(staged, destination)


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_meta_committed_before_its_errors_is_not_paired_with_older_errors(world: World, store: str) -> None:
    """A plain strict `mypy` has committed a module's meta and not yet its `meta_ex` (mypy writes that
    after the bodies, and leaves the old one meanwhile): a strict run loading then must not take the
    default configuration's errors for it.
    """
    default = run_on(world, MYPY_SPLIT, "default.ini", store, world.cache)
    assert answer(default) == answer(world.reference(world.variant, "default.ini"))
    meta = "app/service.meta.ff"
    transplant_strict_entries(world, store, ["app/service.data.ff", meta], fresh={meta})
    result = run_on(world, MYPY_SPLIT, "strict.ini", store, world.cache)
    assert answer(result) == answer(world.reference(world.variant, "strict.ini")), result.describe()


@pytest.mark.parametrize("store", sorted(STORES))
def test_errors_committed_after_our_meta_by_another_run_are_not_ours(world: World, store: str) -> None:
    """A plain strict `mypy` that committed its meta before a default mypy-split run checked the
    module writes its errors after that run: beside the default meta, they are not the default's.
    """
    default = run_on(world, MYPY_SPLIT, "default.ini", store, world.cache)
    assert answer(default) == answer(world.reference(world.variant, "default.ini"))
    errors = "app/service.meta_ex.ff"
    transplant_strict_entries(world, store, [errors], fresh={errors})
    result = run_on(world, MYPY_SPLIT, "default.ini", store, world.cache)
    assert answer(result) == answer(world.reference(world.variant, "default.ini")), result.describe()
