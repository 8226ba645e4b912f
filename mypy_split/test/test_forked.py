"""Bodies shared with forked copies of a worker (build_worker/forked.py; `MYPY_SPLIT_FORKED_SHARING`).

The dealing itself is tested on real forks with stand-in checks: every
module is checked exactly once, by the owner or by one child, also when a
child dies.  A child must not outlive its owner.  The coordinator's
decisions (how many copies, no repeating helpers) are tested on `SharedScc`,
and a whole run on the cycle of test_sharing.py must give mypy's answer and
cache, with the children's work on the parked workers' trace rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mypy_split.build_worker.forked import can_share, share_by_forking
from mypy_split.protocol import ImplementationDone
from mypy_split.sharing import FORKED_SHARING_VARIABLE, SharedScc, forked_sharing_wanted
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool
from mypy_split.test.test_sharing import (
    FLAGS,
    assert_cache_answers,
    fresh_cache,
    parts_per_scc,
    reference,
    write_heavy_project,
    write_project,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forked sharing is Linux only")

MODULES = [f"m{index}" for index in range(12)]


def report_of(checked: list[str], began: float) -> ImplementationDone:
    # Every module the child checked is listed, with no indirect dependencies.
    return ImplementationDone(0, {}, [], time.monotonic() - began, indirect={m: ([], []) for m in checked})


def test_every_module_is_checked_once_by_the_owner_or_a_child() -> None:
    here: list[str] = []
    share = share_by_forking(MODULES, 2, here.append, lambda m: None, report_of, ())
    by_children = [list(child.indirect) for child in share.children]
    assert share.checked_here == here
    assert len(by_children) == 2
    # Each child took one module of its own first: every process had some.
    assert all(by_children) and here
    everything = here + [m for checked in by_children for m in checked]
    assert sorted(everything) == sorted(MODULES)
    # The owner starts with the costliest module, each child with the next ones.
    assert here[0] == "m0" and {checked[0] for checked in by_children} == {"m1", "m2"}


def test_the_modules_of_a_child_that_dies_are_checked_by_the_owner() -> None:
    def die(module_id: str) -> None:
        os._exit(3)

    here: list[str] = []
    share = share_by_forking(MODULES, 2, here.append, die, report_of, ())
    assert share.children == []
    # Each module once: the children's first ones (m1, m2) after the queue.
    assert sorted(here) == sorted(MODULES)
    assert len(here) == len(set(here))


def test_without_processes_to_fork_the_owner_checks_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_more_processes() -> int:
        raise BlockingIOError("fork: Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_more_processes)
    here: list[str] = []
    share = share_by_forking(MODULES, 2, here.append, lambda m: None, report_of, ())
    assert share.children == []
    assert sorted(here) == sorted(MODULES) and len(here) == len(MODULES)


def test_no_fork_without_enough_modules() -> None:
    assert not can_share(2, 2)
    assert not can_share(5, 0)
    assert can_share(3, 2)
    here: list[str] = []
    share = share_by_forking(["a", "b"], 3, here.append, lambda m: None, report_of, ())
    assert (share.checked_here, share.children) == (["a", "b"], [])


def test_a_child_dies_with_its_owner(tmp_path: Path) -> None:
    """The owner killed while a child checks: the kernel ends the child too."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from mypy_split.build_worker.forked import share_by_forking
        from mypy_split.protocol import ImplementationDone

        def in_child(module_id):
            with open({str(pid_file)!r}, "w") as out:
                out.write(str(os.getpid()))
            time.sleep(60)

        share_by_forking(
            ["a", "b", "c"], 1, lambda m: time.sleep(60), in_child,
            lambda checked, began: ImplementationDone(0, {{}}, [], 0.0), (),
        )
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script])
    try:
        child = wait_for_pid(pid_file, timeout=30.0)
        assert alive(child)
        owner.kill()
        owner.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(child), f"forked child {child} outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def wait_for_pid(path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.02)
    raise AssertionError("the forked child never started")


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (left for init to reap) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# -- the coordinator's decisions, pure ------------------------------------------


def test_forked_sharing_is_the_default_with_four_workers_on_four_cpus() -> None:
    assert forked_sharing_wanted(None, worker_count=4, cpus=4)
    assert forked_sharing_wanted(None, worker_count=16, cpus=8)
    assert not forked_sharing_wanted(None, worker_count=3, cpus=16)
    # Workers beyond the CPUs do not make a 2-CPU machine one where it pays.
    assert not forked_sharing_wanted(None, worker_count=8, cpus=2)
    assert not forked_sharing_wanted("0", worker_count=16, cpus=16)
    assert forked_sharing_wanted("1", worker_count=2, cpus=2)
    assert forked_sharing_wanted("yes", worker_count=4, cpus=4)
    assert not forked_sharing_wanted("yes", worker_count=2, cpus=4)


def test_forkable_sharing_takes_no_repeating_helpers_and_forks_for_idle_workers() -> None:
    costs = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.125}
    shared = SharedScc.start(9, owner=0, costs=costs, interface_cost=0.5, forkable=True)
    assert not shared.may_join(1, running_for=0.0, share_min=0.0, others_path=0.0)
    assert shared.forks_for(1, idle=3, share_min=0.0) == 0  # only the owner forks
    # 1.0 s of bodies: shares of 0.25 s allow 4 processes, so 3 children.
    assert shared.forks_for(0, idle=5, share_min=0.25) == 3
    assert shared.forks_for(0, idle=2, share_min=0.25) == 2
    # Forced sharing: one module each at most.
    assert shared.forks_for(0, idle=9, share_min=0.0) == 3
    assert shared.forks_for(0, idle=0, share_min=0.0) == 0
    assert shared.hand_all(0) == ["a", "b", "c", "d"]
    assert shared.pending == [] and shared.holds_work(0)
    assert shared.forks_for(0, idle=2, share_min=0.0) == 0  # nothing left
    assert shared.take(0, queued_path=None) == []
    shared.record(0, ImplementationDone(9, {}, [], 1.0))
    assert shared.done(interface_committed=True)


def test_idle_workers_wait_for_the_copies_while_the_bodies_are_the_longer_path() -> None:
    costs = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.125}
    shared = SharedScc.start(9, owner=0, costs=costs, interface_cost=0.5, forkable=True)
    # 1.0 s of bodies over three processes beats dependents 0.2 s long.
    assert shared.reserve(idle=2, share_min=0.25, others_path=0.2) == 2
    # Shared over two, 0.5 s: not longer than a 0.5 s path, which takes the worker.
    assert shared.reserve(idle=1, share_min=0.25, others_path=0.5) == 0
    assert shared.reserve(idle=0, share_min=0.25, others_path=0.0) == 0
    plain = SharedScc.start(9, owner=0, costs=costs, interface_cost=0.5)
    assert plain.reserve(idle=2, share_min=0.25, others_path=0.0) == 0


def test_plain_sharing_forks_nothing() -> None:
    shared = SharedScc.start(9, owner=0, costs={"a": 0.5, "b": 0.5}, interface_cost=0.1)
    assert shared.forks_for(0, idle=3, share_min=0.0) == 0
    assert shared.may_join(1, running_for=0.0, share_min=0.0, others_path=0.0)


# -- whole runs ----------------------------------------------------------------------


def test_forked_copies_share_a_cycle_and_answer_as_mypy(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = write_project(tmp_path)
    expected = reference(tmp_path, project, warm_cache)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    stderr = run_forked(tmp_path, project, [*FLAGS, "-n", "3"], cache, expected)
    assert "forked copies" in stderr, stderr[-3000:]
    assert_cache_answers(tmp_path, project, cache, expected)


def run_forked(tmp_path: Path, project: Path, args: list[str], cache: Path, expected: RunResult) -> str:
    """mypy-split with forked sharing gives mypy's answer, children's bodies on the parked workers' rows; its log."""
    trace = tmp_path / "trace.json"
    env = {FORKED_SHARING_VARIABLE: "1"}
    ours = run_tool(MYPY_SPLIT, [*args, "-v", "--trace", str(trace)], project, cache, env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    # The children's bodies show on the rows of the workers kept idle for them.
    assert any(len(workers) >= 2 for workers in parts_per_scc(trace).values()), parts_per_scc(trace)
    return ours.stderr


def test_a_forked_copy_that_dies_leaves_its_bodies_to_the_owner(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = write_project(tmp_path)
    expected = reference(tmp_path, project, warm_cache)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    env = {FORKED_SHARING_VARIABLE: "1", "MYPY_SPLIT_TEST_CRASH_FORKED": "1"}
    ours = run_tool(MYPY_SPLIT, [*FLAGS, "-n", "3", "-v"], project, cache, env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    assert "forked copies" in ours.stderr, ours.stderr[-3000:]
    assert_cache_answers(tmp_path, project, cache, expected)


DEPENDENTS = {f"u{index}.py": f"from ring import m{index}\nx: str = m{index}.top{index}()\n" for index in (0, 1)}


def test_an_idle_worker_waits_for_the_copies_rather_than_take_the_dependents(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    """At the cycle's commit its dependents are queued; the idle worker still lends its CPU to a copy."""
    # Modules of their own, not a package: no SCC but the cycle's may keep the other worker busy.
    # Bodies long enough that, shared, they outlast the dependents' path.
    project = write_heavy_project(tmp_path, DEPENDENTS, heavy_lines=150)
    # Flags the warm cache was made with: the standard library is fresh, only the project is checked.
    flags = ["-p", "ring", "-m", "u0", "-m", "u1"]
    expected = run_tool(MYPY, flags, project, fresh_cache(warm_cache, tmp_path / "mypy-cache"), {})
    assert expected.returncode == 1 and "u1.py" in expected.stdout, expected.describe()
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    stderr = run_forked(tmp_path, project, [*flags, "-n", "2"], cache, expected)
    assert "waits for the forked copies of worker" in stderr, stderr[-3000:]
    assert "with 1 forked copies" in stderr, stderr[-3000:]
