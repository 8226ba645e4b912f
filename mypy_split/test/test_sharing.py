"""A big import cycle's implementation phase shared among workers (issue 4, item 5).

The project is one cycle of six modules with errors in top levels and in
bodies, a missing import in two bodies (its only-once note must land where
mypy puts it) and an unused `type: ignore`.  The suite forces sharing for
every cycle that meets an idle worker (conftest); these tests also prove
that it happened, that the default threshold keeps a cycle this small whole,
and that a part killed between its phases still gives mypy's answer and a
cache that `mypy` itself answers from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from mypy_split.costs import COST_FILE, write_costs
from mypy_split.protocol import ImplementationDone
from mypy_split.schedule import PhaseCost
from mypy_split.sharing import (
    FORKED_SHARING_VARIABLE,
    SHARE_MIN_SECONDS,
    SHARE_MIN_VARIABLE,
    SharedScc,
    SharingDesk,
    take_chunk,
    worth_sharing,
)
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool, stale_lines
from mypy_split.tuning import AVAILABLE_MEMORY_VARIABLE

CYCLE = {
    "ring/__init__.py": "",
    "ring/m0.py": """\
from ring import m5

class C0:
    value: int = 0
    def run(self) -> int:
        import missing_one
        return m5.C5().run() + "zero"

def top0() -> str:
    return 0
""",
    "ring/m1.py": """\
from ring import m0

class C1:
    def run(self) -> int:
        return m0.C0().value + len(1)
""",
    "ring/m2.py": """\
from ring import m1

class C2:
    label: str = 3
    def run(self) -> int:
        import missing_one
        return m1.C1().run()
""",
    "ring/m3.py": """\
from ring import m2

class C3:
    def run(self) -> str:
        x: int = "three"  # type: ignore[assignment]
        y = 1  # type: ignore
        return m2.C2().label
""",
    "ring/m4.py": """\
from ring import m3

class C4:
    def run(self) -> str:
        return m3.C3().run() + 4
""",
    "ring/m5.py": """\
from ring import m4

class C5:
    def run(self) -> int:
        return m4.C4().run()
""",
}
FLAGS = ["-p", "ring", "--warn-unused-ignores"]


# -- the coordinator's bookkeeping, pure --------------------------------------


def test_take_chunk_takes_until_the_chunk_is_worth_enough() -> None:
    costs = {"a": 0.01, "b": 0.005, "c": 0.02, "d": 0.5}
    pending = ["a", "b", "c", "d"]
    assert take_chunk(pending, costs, 0.02) == ["a", "b", "c"]
    # One module at least, whatever it is worth.
    assert take_chunk(pending, costs, 0.0) == ["d"]
    assert take_chunk(pending, costs, 0.02) == []


def test_worth_sharing_needs_two_modules_and_enough_bodies() -> None:
    assert not worth_sharing({"a": 5.0}, 0.5)
    assert not worth_sharing({"a": 0.4, "b": 0.4}, 0.5)
    assert worth_sharing({"a": 0.6, "b": 0.4}, 0.5)
    assert worth_sharing({"a": 0.0, "b": 0.0}, 0.0)


def test_bodies_go_costliest_first_and_the_scc_is_done_when_all_are_reported() -> None:
    shared = SharedScc.start(7, owner=0, costs={"m1": 0.1, "m2": 0.3, "m3": 0.2}, interface_cost=0.2)
    assert shared.pending == ["m2", "m3", "m1"]
    # Owner just started: all 0.6 s are left when the helper is ready, 0.3 s for each of two.
    assert shared.may_join(1, running_for=0.0, share_min=0.3, others_path=0.0)
    # Owner well into its bodies: 0.6 - 0.2 drained = 0.4 s left, 0.2 s each.
    assert shared.may_join(1, running_for=1.0, share_min=0.15, others_path=0.0)
    assert not shared.may_join(1, running_for=1.0, share_min=0.25, others_path=0.0)
    # The rest of the build runs longer than these bodies anyway: no help.
    assert not shared.may_join(1, running_for=0.1, share_min=0.1, others_path=0.7)
    assert not shared.may_join(0, running_for=0.0, share_min=0.0, others_path=0.0)  # the owner itself
    shared.join(1)
    assert not shared.may_join(1, running_for=0.0, share_min=0.0, others_path=0.0)  # it helps already
    # A third participant: 0.6 s / 3 = 0.2 s each.
    assert shared.may_join(2, running_for=0.0, share_min=0.15, others_path=0.0)
    assert not shared.may_join(2, running_for=0.0, share_min=0.25, others_path=0.0)
    assert shared.take(1, queued_path=None, chunk_seconds=0.0) == ["m2"]
    assert shared.take(0, queued_path=None, chunk_seconds=0.0) == ["m3"]
    # A queued SCC with a longer path than the 0.1 s left: the helper yields, the owner goes on.
    assert shared.take(1, queued_path=0.5, chunk_seconds=0.0) == []
    assert shared.take(0, queued_path=0.5, chunk_seconds=0.0) == ["m1"]
    assert shared.holds_work(1) and shared.holds_work(0)
    assert shared.pending == []
    shared.record(1, ImplementationDone(7, {}, [], 0.3, indirect={"m2": ([], [])}))
    assert not shared.holds_work(1)
    assert not shared.done(interface_committed=True)
    shared.record(0, ImplementationDone(7, {}, [], 0.3))
    assert not shared.done(interface_committed=False)
    assert shared.done(interface_committed=True)
    assert set(shared.results) == {0, 1}


def test_joining_ahead_of_queued_work_needs_bodies_that_outlast_the_rest_of_the_build() -> None:
    shared = SharedScc.start(7, owner=0, costs={"m1": 0.1, "m2": 0.3, "m3": 0.2}, interface_cost=0.2)
    # 0.6 s of bodies against other workers busy 0.5 s: join; against 0.6 s: take the queued work.
    assert shared.may_join_ahead(1, running_for=0.0, share_min=0.25, rest=0.5)
    assert not shared.may_join_ahead(1, running_for=0.0, share_min=0.25, rest=0.6)
    # Forced sharing (0) still leaves queued work first unless the bodies outlast it.
    assert shared.may_join(1, running_for=0.0, share_min=0.0, others_path=5.0)
    assert not shared.may_join_ahead(1, running_for=0.0, share_min=0.0, rest=5.0)
    assert not shared.may_join_ahead(1, running_for=0.0, share_min=0.4, rest=0.0)  # shares under the minimum
    assert not shared.may_join_ahead(0, running_for=0.0, share_min=0.0, rest=0.0)  # the owner itself
    forkable = SharedScc.start(7, owner=0, costs={"m1": 0.1, "m2": 0.3, "m3": 0.2}, interface_cost=0.2, forkable=True)
    assert not forkable.may_join_ahead(1, running_for=0.0, share_min=0.0, rest=0.0)


def test_a_worker_waits_for_a_fork_ahead_of_queued_work_while_the_bodies_outlast_the_rest() -> None:
    costs = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.125}
    shared = SharedScc.start(9, owner=0, costs=costs, interface_cost=0.5, forkable=True)
    # 1.0 s of bodies, by the owner alone, outlast other workers busy 0.8 s: one waits for a copy.
    assert shared.may_fork_ahead(waiting=0, share_min=0.25, rest=0.8)
    # With one waiting, owner and copy take 0.5 s: not beyond 0.5 s of the rest.
    assert not shared.may_fork_ahead(waiting=1, share_min=0.25, rest=0.5)
    assert shared.may_fork_ahead(waiting=1, share_min=0.25, rest=0.4)
    # Shares of 0.25 s at least: four processes at most, and one module each.
    assert not shared.may_fork_ahead(waiting=3, share_min=0.25, rest=0.0)
    assert not shared.may_fork_ahead(waiting=3, share_min=0.0, rest=0.0)
    assert shared.may_fork_ahead(waiting=2, share_min=0.0, rest=0.0)
    plain = SharedScc.start(9, owner=0, costs=costs, interface_cost=0.5)
    assert not plain.may_fork_ahead(waiting=0, share_min=0.0, rest=0.0)


def test_no_more_processes_hold_a_shared_scc_than_the_memory_left_allows() -> None:
    MiB = 1 << 20
    left: list[int | None] = [1000 * MiB]
    logged: list[str] = []
    desk = SharingDesk(0.0, memory_left=lambda: left[0], log=logged.append)
    costs = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    # 200 MiB a copy, with half as much again free besides: 300 MiB each.
    assert desk.offer(3, owner=0, bodies=costs, interface=0.1, now=0.0, copy_bytes=200 * MiB)
    shared = desk.shared[3]
    assert desk.copies_in_memory(shared, 5) == 3
    assert desk.copies_in_memory(shared, 2) == 2
    assert logged == ["SCC 3: 3 of 5 more processes may hold it: about 200 MiB each, 1000 MiB of memory left"]

    def join(worker: int) -> int | None:
        return desk.helper_task(worker, now=0.0, may_help=lambda scc_id: True, others_path=lambda scc_id: 0.0)

    assert join(1) == 3
    # Helper 1 has not grown yet: its 200 MiB are counted as taken anyway.
    left[0] = 499 * MiB
    assert join(2) is None
    assert desk.copies_in_memory(shared, 1) == 0
    assert len(logged) == 1  # once per SCC
    left[0] = 500 * MiB
    assert join(2) == 3
    # Helpers done are no longer counted.
    shared.leave(1)
    shared.leave(2)
    left[0] = 300 * MiB
    assert desk.copies_in_memory(shared, 1) == 1
    # Nor are forked copies once their owner's task is over.
    shared.hand_all(0, forks=1)
    assert desk.copies_in_memory(shared, 1) == 0
    shared.leave(0)
    assert desk.copies_in_memory(shared, 1) == 1
    # Nothing known about the memory, or nothing known about the copy: no limit.
    left[0] = None
    assert desk.copies_in_memory(shared, 4) == 4
    unknown = SharingDesk(0.0, memory_left=lambda: 0)
    assert unknown.offer(4, owner=0, bodies=costs, interface=0.1, now=0.0)
    assert unknown.copies_in_memory(unknown.shared[4], 4) == 4


def test_a_shared_scc_is_not_done_before_its_owner_reports() -> None:
    # A helper checked every body while the owner was still in its interface.
    shared = SharedScc.start(5, owner=0, costs={"a": 0.1, "b": 0.1}, interface_cost=0.5)
    shared.join(1)
    assert shared.take(1, queued_path=None) == ["a"]
    assert shared.take(1, queued_path=None) == ["b"]
    shared.record(1, ImplementationDone(5, {}, [], 0.2, indirect={"a": ([], []), "b": ([], [])}))
    assert not shared.done(interface_committed=True)
    assert shared.take(0, queued_path=None) == []
    shared.record(0, ImplementationDone(5, {}, [], 0.0))
    assert shared.done(interface_committed=True)


def test_forced_sharing_keeps_a_module_for_each_helper_still_in_its_interface() -> None:
    shared = SharedScc.start(3, owner=0, costs={"a": 0.0, "b": 0.0, "c": 0.0}, interface_cost=0.0)
    shared.join(1)
    shared.join(2)
    assert shared.take(0, queued_path=None, chunk_seconds=0.0) == ["a"]
    # Two modules left, two helpers that have taken none: the owner waits no more.
    assert shared.take(0, queued_path=None, chunk_seconds=0.0) == []
    assert shared.take(2, queued_path=None, chunk_seconds=0.0) == ["b"]
    assert shared.take(1, queued_path=None, chunk_seconds=0.0) == ["c"]


def test_helpers_do_not_yield_bodies_the_owner_left_for_them() -> None:
    """Queued work does not make a helper leave kept-back bodies to nobody (the SCC would stall)."""
    shared = SharedScc.start(4, owner=0, costs={"a": 0.0, "b": 0.0}, interface_cost=0.0)
    shared.join(1)
    assert shared.take(0, queued_path=5.0, chunk_seconds=0.0) == ["a"]
    # One module left, kept back for the helper still in its interface: the owner stops.
    assert shared.take(0, queued_path=5.0, chunk_seconds=0.0) == []
    # A queued SCC's path (5 s) is longer than the body left, but only the helper can take it.
    assert shared.take(1, queued_path=5.0, chunk_seconds=0.0) == ["b"]
    assert shared.take(1, queued_path=5.0, chunk_seconds=0.0) == []
    for worker in (0, 1):
        shared.record(worker, ImplementationDone(4, {}, [], 0.0))
    assert not shared.stalled()
    assert shared.done(interface_committed=True)


def write_project(root: Path) -> Path:
    project = root / "project"
    for name, text in CYCLE.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def write_heavy_project(root: Path, beside: dict[str, str], heavy_lines: int) -> Path:
    """The cycle, each module given a function of `heavy_lines` statements, and modules beside it."""
    project = write_project(root)
    for name, text in beside.items():
        (project / name).write_text(text)
    heavy = "def heavy() -> int:\n    x = 0\n" + "    x = x + len(str(x))\n" * heavy_lines + "    return x\n"
    for index in range(6):
        with open(project / f"ring/m{index}.py", "a") as module:
            module.write(heavy)
    return project


def fresh_cache(warm_cache: WarmCache, target: Path) -> Path:
    shutil.copytree(warm_cache([]), target)
    return target


def parts_per_scc(trace_file: Path) -> dict[int, set[int]]:
    """For each SCC, the workers (trace rows) that checked bodies of it."""
    events = json.loads(trace_file.read_text())["traceEvents"]
    rows: dict[int, set[int]] = defaultdict(set)
    for event in events:
        if event.get("ph") == "X" and event["name"] == "implementation":
            rows[event["args"]["scc"]].add(event["tid"])
    return rows


def reference(tmp_path: Path, project: Path, warm_cache: WarmCache) -> RunResult:
    expected = run_tool(MYPY, FLAGS, project, fresh_cache(warm_cache, tmp_path / "mypy-cache"), {})
    assert expected.returncode == 1, expected.describe()
    assert "note: See https://mypy.readthedocs.io" in expected.stdout
    return expected


def assert_cache_answers(
    tmp_path: Path, project: Path, cache: Path, expected: RunResult, flags: list[str] = FLAGS
) -> None:
    """`mypy` on a copy of the cache we left prints its own answer, without checking again."""
    copy = tmp_path / f"{cache.name}-for-mypy"
    shutil.copytree(cache, copy)
    again = run_tool(MYPY, [*flags, "-v"], project, copy, {})
    assert again.stdout == expected.stdout, again.describe()
    assert stale_lines(again) == [], stale_lines(again)


def test_a_cycle_is_shared_and_answers_as_mypy(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = write_project(tmp_path)
    expected = reference(tmp_path, project, warm_cache)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    trace = tmp_path / "trace.json"
    ours = run_tool(MYPY_SPLIT, [*FLAGS, "-n", "3", "--trace", str(trace)], project, cache, {})
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    assert any(len(workers) >= 2 for workers in parts_per_scc(trace).values()), parts_per_scc(trace)
    assert_cache_answers(tmp_path, project, cache, expected)


# Modules of their own beside the cycle: ready with it (they need the
# package's interface, as the cycle does), queued while it runs.
BESIDE = {f"u{index}.py": f"import ring\n\ndef f{index}() -> int:\n    return 'u{index}'\n" for index in range(4)}
# The flags the warm cache was made with: the standard library is fresh, so
# nothing runs but the project, and the recorded costs are all there is.
BESIDE_FLAGS = ["-p", "ring", *(arg for name in BESIDE for arg in ("-m", name[:-3]))]


def write_costs_making_the_cycle_the_tail(cache: Path) -> None:
    """Recorded costs: the cycle's bodies far outlast the modules beside it."""
    path = cache / f"{sys.version_info.major}.{sys.version_info.minor}" / COST_FILE
    ring = {name[:-3].replace("/", "."): PhaseCost(0.01, 50.0) for name in CYCLE if not name.endswith("__init__.py")}
    write_costs(str(path), {**ring, **{name[:-3]: PhaseCost(0.001, 0.001) for name in BESIDE}})



# Each sharing test runs with helpers repeating the interface, and with forked copies where there are any.
FORKED_OR_NOT = [
    False,
    pytest.param(True, marks=pytest.mark.skipif(sys.platform != "linux", reason="forked sharing is Linux only")),
]

@pytest.mark.parametrize("forked", FORKED_OR_NOT)
def test_an_idle_worker_helps_the_tail_cycle_ahead_of_queued_work(
    tmp_path: Path, warm_cache: WarmCache, forked: bool
) -> None:
    # Bodies that take a while, so that bodies are left when the later workers come up.
    project = write_heavy_project(tmp_path, BESIDE, heavy_lines=300)
    expected = run_tool(MYPY, BESIDE_FLAGS, project, fresh_cache(warm_cache, tmp_path / "mypy-cache"), {})
    assert expected.returncode == 1 and "u3.py" in expected.stdout, expected.describe()
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    write_costs_making_the_cycle_the_tail(cache)
    env = {FORKED_SHARING_VARIABLE: "1" if forked else "0"}
    ours = run_tool(MYPY_SPLIT, [*BESIDE_FLAGS, "-n", "3", "-v"], project, cache, env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    if forked:
        # The idle worker waits for a copy, now or at the owner's commit (whichever finds it idle first).
        assert "forked copies" in ours.stderr, ours.stderr[-3000:]
    else:
        # The second worker to come free after the cycle starts helps; the third runs the queue.
        assert "ahead of queued work" in ours.stderr, ours.stderr[-3000:]


def test_the_default_threshold_keeps_a_small_cycle_whole(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = write_project(tmp_path)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    trace = tmp_path / "trace.json"
    env = {SHARE_MIN_VARIABLE: str(SHARE_MIN_SECONDS)}
    ours = run_tool(MYPY_SPLIT, [*FLAGS, "-n", "3", "--trace", str(trace)], project, cache, env)
    assert ours.returncode == 1, ours.describe()
    parts = parts_per_scc(trace)
    assert parts and all(len(workers) == 1 for workers in parts.values()), parts


@pytest.mark.parametrize("forked", FORKED_OR_NOT)
def test_no_worker_joins_a_cycle_the_memory_left_cannot_hold_again(
    tmp_path: Path, warm_cache: WarmCache, forked: bool
) -> None:
    """Sharing forced, but no memory left for another copy: each SCC stays with one process."""
    project = write_project(tmp_path)
    expected = reference(tmp_path, project, warm_cache)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    trace = tmp_path / "trace.json"
    env = {AVAILABLE_MEMORY_VARIABLE: "0", FORKED_SHARING_VARIABLE: "1" if forked else "0"}
    ours = run_tool(MYPY_SPLIT, [*FLAGS, "-n", "3", "-v", "--trace", str(trace)], project, cache, env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    parts = parts_per_scc(trace)
    assert parts and all(len(workers) == 1 for workers in parts.values()), parts
    assert re.search(r"SCC \d+: 0 of \d+ more processes may hold it", ours.stderr), ours.stderr[-3000:]


def test_a_part_killed_between_its_phases(tmp_path: Path, warm_cache: WarmCache) -> None:
    """The first part of the cycle to finish its interface stops; it is killed there.

    Owner or helper, the run must still print mypy's answer, and leave a
    cache that `mypy` answers from.
    """
    project = write_project(tmp_path)
    expected = reference(tmp_path, project, warm_cache)
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    stdout, stderr, returncode = run_killing_between_phases([*FLAGS, "-n", "3"], project, cache, "ring.m3", tmp_path)
    assert (stdout, returncode) == (expected.stdout, expected.returncode), stderr
    assert_cache_answers(tmp_path, project, cache, expected)


def run_killing_between_phases(
    args: list[str], project: Path, cache: Path, module: str, scratch: Path, extra_env: dict[str, str] | None = None
) -> tuple[str, str, int]:
    """A mypy-split run whose first worker done with the interface of `module`'s SCC is killed there.

    Returns the run's stdout, stderr and exit code.
    """
    markers = scratch / "markers"
    markers.mkdir()
    env = dict(os.environ)
    env.pop("MYPY_FORCE_COLOR", None)
    env.update({
        "MYPY_CACHE_DIR": str(cache), "PYTHONSAFEPATH": "1", "TERM": "dumb",
        "MYPY_SPLIT_TEST_STOP_BETWEEN_PHASES": module, "MYPY_SPLIT_TEST_MARKERS": str(markers),
        **(extra_env or {}),
    })
    run = subprocess.Popen(
        [*MYPY_SPLIT, *args], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stopped = wait_for_stopped_child(run.pid, timeout=120.0)
        assert stopped is not None, f"no worker stopped between the phases of {module}"
        os.kill(stopped, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    return stdout, stderr, run.returncode


def wait_for_stopped_child(parent: int, timeout: float) -> int | None:
    """The pid of a child of `parent` in the stopped state, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state, then the parent's pid.
            if fields[0] == "T" and int(fields[1]) == parent:
                return int(entry)
        time.sleep(0.05)
    return None
