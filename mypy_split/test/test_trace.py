"""Spans to a Chrome trace and to the --stats numbers (pure, hand-made spans)."""

from __future__ import annotations

import functools
import io
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mypy_split.costs import COST_FILE, read_costs, write_costs
from mypy_split.driver import SINGLE_WORKER_VARIABLE
from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool
from mypy_split.trace import COLLECT, CONFIRM, COORDINATOR, IMPLEMENTATION, INTERFACE, LOAD_DEPS, Recorder
from mypy_split.tuning import COLLECT_TAIL_VARIABLE, POOL_WORTH_VARIABLE, USABLE_CPUS_VARIABLE, WORKER_SEED_VARIABLE


def chain_nodes() -> list[SccNode]:
    """0 <- 1 (1 imports 0)."""
    return [
        SccNode(0, frozenset(), (1,), ("a",), 1),
        SccNode(1, frozenset({0}), (), ("b",), 1),
    ]


def recorded_run() -> Recorder:
    recorder = Recorder(workers=2)
    recorder.started = 100.0
    recorder.add("load graph", COORDINATOR, 100.0, 101.0)
    recorder.add_from_worker(0, [(LOAD_DEPS, 101.0, 101.5), (INTERFACE, 101.5, 102.0)], scc=0)
    recorder.add_from_worker(0, [(IMPLEMENTATION, 102.0, 104.0)], scc=0)
    recorder.add_from_worker(1, [(INTERFACE, 102.0, 103.0), (IMPLEMENTATION, 103.0, 103.5)], scc=1)
    recorder.finished = 105.0
    return recorder


def test_chrome_trace_has_a_named_row_per_process_and_complete_events() -> None:
    trace = recorded_run().chrome_trace()
    events = trace["traceEvents"]
    assert isinstance(events, list)
    names = {event["tid"]: event["args"]["name"] for event in events if event["ph"] == "M"}
    assert names == {0: "coordinator", 1: "worker 0", 2: "worker 1"}
    spans = [event for event in events if event["ph"] == "X"]
    assert len(spans) == 6
    first_interface = next(e for e in spans if e["name"] == INTERFACE and e["tid"] == 1)
    assert first_interface["ts"] == pytest.approx(1.5e6)
    assert first_interface["dur"] == pytest.approx(0.5e6)
    assert first_interface["args"] == {"scc": 0}


def test_stats_from_spans_and_measured_costs() -> None:
    recorder = recorded_run()
    # The coordinator confirmed SCC 1's wording (confirm.py): not a task, not a worker's work.
    recorder.add(CONFIRM, COORDINATOR, 104.0, 104.5, scc=1)
    costs = {0: PhaseCost(0.5, 2.0), 1: PhaseCost(1.0, 0.5)}
    stats = recorder.summary(chain_nodes(), costs)
    assert stats.wall == pytest.approx(5.0)
    assert stats.tasks == 2
    assert stats.busy == {0: pytest.approx(3.0 / 5.0), 1: pytest.approx(1.5 / 5.0)}
    assert stats.loading == pytest.approx(0.5)
    assert stats.serial_start == pytest.approx(1.0)
    assert stats.work == pytest.approx(4.0)
    # 0's interface then the longer of its own body (2.0) and 1's whole (1.5).
    assert stats.critical_path == pytest.approx(2.5)
    assert stats.ideal == pytest.approx(1.0 + max(4.0 / 2, 2.5))
    assert stats.efficiency == pytest.approx(3.5 / 5.0)
    out = io.StringIO()
    stats.write(out)
    text = out.getvalue()
    assert "2 tasks" in text and "w0 60%" in text and "efficiency 70%" in text
    assert stats.confirms == 1
    assert stats.confirm_seconds == pytest.approx(0.5)
    assert "confirmed here 0.50 s (1 SCCs)" in text


def test_a_shared_sccs_bodies_end_a_chain_in_their_longest_chunk() -> None:
    """Bodies checked by two processes at once: the ideal must not add them up (it would exceed the run)."""
    recorder = Recorder(workers=2)
    recorder.started = 100.0
    recorder.add_from_worker(0, [(INTERFACE, 100.0, 101.0), (IMPLEMENTATION, 101.0, 103.0)], scc=0)
    recorder.add_from_worker(1, [(INTERFACE, 100.0, 101.0), (IMPLEMENTATION, 101.0, 102.5)], scc=0)
    recorder.finished = 103.0
    node = SccNode(0, frozenset(), (), ("a", "b"), 2)
    stats = recorder.summary([node], {0: PhaseCost(1.0, 3.5)})
    assert stats.critical_path == pytest.approx(1.0 + 2.0)
    assert stats.ideal == pytest.approx(max(4.5 / 2, 3.0))
    assert stats.efficiency == pytest.approx(1.0)


def test_trace_and_stats_of_a_parallel_run(tmp_path: Path, warm_cache: WarmCache) -> None:
    """--trace writes a Chrome trace with worker rows, --stats a summary; the answer is unchanged."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("import a\nimport b\nx: int = a.f() + b.g()\n")
    (project / "a.py").write_text("import b\ndef f() -> int:\n    return b.g()\n")
    (project / "b.py").write_text("def g() -> int:\n    return 'no'\n")
    expected = run_tool(MYPY, ["main.py"], project, copied_cache(warm_cache, tmp_path / "c1"), {})
    trace_file = tmp_path / "trace.json"
    args = ["main.py", "-n", "2", "--stats", "--trace", str(trace_file)]
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c2"), {})
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode)
    assert ours.stderr.startswith("mypy-split stats:"), ours.stderr
    events = json.loads(trace_file.read_text())["traceEvents"]
    rows = {event["args"]["name"] for event in events if event["ph"] == "M"}
    assert {"coordinator", "worker 0"} <= rows
    worker_spans = {event["name"] for event in events if event["ph"] == "X" and event["tid"] > 0}
    assert {"start-up", INTERFACE, IMPLEMENTATION} <= worker_spans
    # Each SCC's span names its first module (ids change with the hash seed; misc/simulate.py maps them).
    named = {event["args"].get("module") for event in events if event["ph"] == "X" and "scc" in event["args"]}
    assert {"a", "b", "main"} <= named and None not in named


@pytest.mark.parametrize(("tail_seconds", "collects"), [("0", True), ("1000", False)])
def test_workers_collect_garbage_before_each_task_except_near_the_builds_end(
    tail_seconds: str, collects: bool, tmp_path: Path, warm_cache: WarmCache
) -> None:
    """Near the end (all of this build, with a big tail setting) no task starts with a collection."""
    names = [f"m{index}" for index in range(6)]
    project = project_of_modules(tmp_path, names, "def f() -> int:\n    return 'no'\n")
    args = [*(f"{name}.py" for name in names), "-n", "2", "--trace", str(tmp_path / "trace.json")]
    expected = run_tool(MYPY, args[: len(names)], project, copied_cache(warm_cache, tmp_path / "c1"), {})
    env = {COLLECT_TAIL_VARIABLE: tail_seconds}
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c2"), env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode)
    spans = [event for event in json.loads((tmp_path / "trace.json").read_text())["traceEvents"] if event["ph"] == "X"]
    tasks = {(span["tid"], span["args"]["scc"]) for span in spans if span["tid"] > 0 and span["name"] == INTERFACE}
    collected = {(span["tid"], span["args"]["scc"]) for span in spans if span["name"] == COLLECT}
    assert len(tasks) >= len(names)
    assert collected == (tasks if collects else set())


def test_an_unwritable_trace_file_is_a_usage_error(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("x = 1\n")
    args = ["main.py", "--trace", str(tmp_path / "missing" / "trace.json")]
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c"), {})
    assert ours.returncode == 2
    assert "mypy-split: error: cannot write the trace file" in ours.stderr
    assert "Traceback" not in ours.stderr


def copied_cache(warm_cache: WarmCache, target: Path) -> Path:
    shutil.copytree(warm_cache([]), target, symlinks=True)
    return target


@pytest.mark.parametrize("single_worker, workers_seen", [("", set()), ("1", {"worker 0"})])
def test_one_worker_runs_in_process_unless_asked(
    tmp_path: Path, warm_cache: WarmCache, single_worker: str, workers_seen: set[str]
) -> None:
    """`-n 1` checks in the coordinator's process (no worker row in the trace) unless a real worker is asked for."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("import a\nx: str = a.f()\n")
    (project / "a.py").write_text("def f() -> int:\n    return 1\n")
    expected = run_tool(MYPY, ["main.py"], project, copied_cache(warm_cache, tmp_path / "c1"), {})
    trace_file = tmp_path / "trace.json"
    env = {SINGLE_WORKER_VARIABLE: single_worker}
    args = ["main.py", "-n", "1", "--trace", str(trace_file)]
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c2"), env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode)
    assert expected.returncode == 1
    events = json.loads(trace_file.read_text())["traceEvents"]
    rows = {event["args"]["name"] for event in events if event["ph"] == "M"}
    assert rows - {"coordinator"} == workers_seen


@pytest.mark.parametrize(("cpus", "workers_seen"), [("3", {"worker 0", "worker 1", "worker 2"}), ("1", set())])
def test_a_run_gets_no_more_workers_than_usable_cpus(
    tmp_path: Path, warm_cache: WarmCache, cpus: str, workers_seen: set[str]
) -> None:
    """`-n 8` with 3 usable CPUs starts 3 workers; with 1, checks in-process as `-n 1` does."""
    names = [f"m{index}" for index in range(4)]
    project = project_of_modules(tmp_path, names, "def f() -> int:\n    return 'no'\n")
    expected = run_tool(MYPY, ["main.py"], project, copied_cache(warm_cache, tmp_path / "c1"), {})
    trace_file = tmp_path / "trace.json"
    env = {USABLE_CPUS_VARIABLE: cpus, SINGLE_WORKER_VARIABLE: ""}
    args = ["main.py", "-n", "8", "--trace", str(trace_file)]
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c2"), env)
    assert (ours.stdout, ours.stderr, ours.returncode) == (expected.stdout, expected.stderr, expected.returncode)
    events = json.loads(trace_file.read_text())["traceEvents"]
    rows = {event["args"]["name"] for event in events if event["ph"] == "M"}
    assert rows - {"coordinator"} == workers_seen


def cost_file_in(cache: Path) -> str:
    """Where a run of this Python version keeps its cost file in the cache folder."""
    return str(cache / f"{sys.version_info.major}.{sys.version_info.minor}" / COST_FILE)


def project_of_modules(tmp_path: Path, names: list[str], text: str) -> Path:
    """A project whose main.py imports each of `names`, every one with the same text."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("".join(f"import {name}\n" for name in names))
    for name in names:
        (project / f"{name}.py").write_text(text)
    return project


def traced_run_after_edit(
    tmp_path: Path,
    warm_cache: WarmCache,
    project: Path,
    edit: Callable[[], object],
    env: dict[str, str],
    before_edit: Callable[[Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Check the project with mypy and with us (`-n 2`), `edit` it, check again; the second trace's spans.

    Both checks after the edit must print the same (errors: exit 1).
    `before_edit` gets our cache before the edit.
    """
    caches = {tool: copied_cache(warm_cache, tmp_path / tool) for tool in ("mypy", "split")}
    run_tool(MYPY, ["main.py"], project, caches["mypy"], {})
    run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, caches["split"], {})
    if before_edit is not None:
        before_edit(caches["split"])
    edit()
    expected = run_tool(MYPY, ["main.py"], project, caches["mypy"], {})
    trace_file = tmp_path / "trace.json"
    args = ["main.py", "-n", "2", "--trace", str(trace_file)]
    ours = run_tool(MYPY_SPLIT, args, project, caches["split"], env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode)
    assert expected.returncode == 1
    return [event for event in json.loads(trace_file.read_text())["traceEvents"] if event["ph"] == "X"]


def test_workers_start_while_this_process_checks_the_bodies_of_a_changed_interface(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    """An interface edit found by checking in-process makes its importers stale: workers start at once.

    Only `base` changed, too little work for workers, so the coordinator
    checks it itself; its new interface makes the four importers stale, and
    the workers are started before `base`'s bodies are checked, not after.
    """
    importers = [f"m{index}" for index in range(4)]
    project = project_of_modules(tmp_path, importers, "import base\ndef use() -> int:\n    return base.value()\n")
    base = project / "base.py"
    base.write_text("def value() -> int:\n    return 1\n")
    edit = functools.partial(base.write_text, "def value() -> str:\n    return 'one'\n")
    # Any work beyond the one changed module pays for workers.
    spans = traced_run_after_edit(tmp_path, warm_cache, project, edit, {POOL_WORTH_VARIABLE: "0.000001"})
    base_bodies = next(
        event for event in spans
        if event["tid"] == 0 and event["name"] == IMPLEMENTATION and event["args"].get("module") == "base"
    )
    starts = [event["ts"] for event in spans if event["name"] == "start-up"]
    assert starts and min(starts) < base_bodies["ts"] + base_bodies["dur"]
    checked_on_workers = {event["args"].get("module") for event in spans if event["tid"] > 0 and event["name"] == INTERFACE}
    assert set(importers) <= checked_on_workers


def slow_bodies(count: int) -> str:
    """Functions whose bodies take the checker a while (the interface phase skips them)."""
    return "".join(
        f"def slow{index}(n: int) -> int:\n"
        "    total = 0\n"
        "    for k in range(n):\n"
        f"        total += k * {index} % 7\n"
        "        if total > 100:\n"
        "            total -= len(str(k)) + int(str(total)[:1] or 0)\n"
        "    return total\n"
        for index in range(count)
    )


def test_workers_get_work_while_this_process_checks_the_bodies_of_a_changed_interface(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    """What an SCC checked in-process unblocks goes to workers during its bodies, not after them.

    The cycle `base`-`base2` changes its interface, which makes `a` stale,
    whose new interface makes `b` stale.  The coordinator checks the cycle
    itself (too little work for workers until its interface is known); `a`
    is sent to a worker as soon as that interface is, and `b` once `a`'s
    interface result has come back, between the two modules' bodies.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("import a\nimport b\n")
    base = project / "base.py"
    base.write_text("import base2\ndef value() -> int:\n    return 1\n" + slow_bodies(400))
    (project / "base2.py").write_text("import base\n" + slow_bodies(400))
    (project / "a.py").write_text("import base\nx = base.value()\n")
    (project / "b.py").write_text("import a\ny: int = a.x\n")
    changed = base.read_text().replace("def value() -> int:\n    return 1", "def value() -> str:\n    return ''")
    # Any work beyond the cycle pays for workers; the cycle itself is not
    # shared; the workers are forked from the seed, ready at once.
    env = {POOL_WORTH_VARIABLE: "0.000001", SHARE_MIN_VARIABLE: "1000", WORKER_SEED_VARIABLE: "1"}
    spans = traced_run_after_edit(tmp_path, warm_cache, project, functools.partial(base.write_text, changed), env)
    bodies = [
        event for event in spans
        if event["tid"] == 0 and event["name"] == IMPLEMENTATION and event["args"].get("module") in ("base", "base2")
    ]
    bodies_end = max(event["ts"] + event["dur"] for event in bodies)
    on_workers = {
        event["args"].get("module"): event["ts"] for event in spans if event["tid"] > 0 and event["name"] == INTERFACE
    }
    assert {"a", "b"} <= set(on_workers)
    # A worker's start-up ends when it was ready, before its first task, not when this process read that.
    rows = [
        sorted((event for event in spans if event["tid"] == worker), key=lambda event: event["ts"])
        for worker in {event["tid"] for event in spans if event["tid"] > 0}
    ]
    working = [row for row in rows if len(row) > 1]
    assert working
    for row in working:
        assert row[0]["name"] == "start-up", row[0]
        assert row[0]["ts"] + row[0]["dur"] <= row[1]["ts"], (row[0], row[1])
    assert on_workers["a"] < on_workers["b"] < bodies_end, (on_workers, bodies_end)


def test_workers_start_during_the_load_once_the_parsed_modules_are_worth_it(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    """On a cache that exists, modules the load has to parse will be checked: workers start before the load ends."""
    project = project_of_modules(tmp_path, [f"m{index}" for index in range(6)], "def f() -> int:\n    return 'no'\n")
    expected = run_tool(MYPY, ["main.py"], project, copied_cache(warm_cache, tmp_path / "c1"), {})
    trace_file = tmp_path / "trace.json"
    # The cache exists (typeshed's entries), so nothing starts before the load.
    env = {POOL_WORTH_VARIABLE: "0.000001"}
    args = ["main.py", "-n", "2", "--trace", str(trace_file)]
    ours = run_tool(MYPY_SPLIT, args, project, copied_cache(warm_cache, tmp_path / "c2"), env)
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode)
    assert expected.returncode == 1
    spans = [event for event in json.loads(trace_file.read_text())["traceEvents"] if event["ph"] == "X"]
    load = next(event for event in spans if event["tid"] == 0 and event["name"] == "load graph and plan")
    starts = [event["ts"] for event in spans if event["name"] == "start-up"]
    assert len(starts) == 2
    assert load["ts"] < min(starts) < load["ts"] + load["dur"]


def test_workers_share_a_big_cycle_that_is_the_only_stale_work(tmp_path: Path, warm_cache: WarmCache) -> None:
    """An interface edit that leaves one big cycle stale starts workers when its bodies can be shared.

    The cycle alone is one piece of work, which another process could not
    shorten if it had to be checked whole; but its bodies, as recorded by
    the run before (written into the cost file here), are worth sharing, so
    the coordinator starts workers for it instead of checking it itself.
    """
    cycle = [f"c{index}" for index in range(4)]
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("import c0\n")
    for index, name in enumerate(cycle):
        after = cycle[(index + 1) % len(cycle)]
        (project / f"{name}.py").write_text(
            f"import base\nimport {after}\ndef use() -> int:\n    return base.value()\n"
        )
    base = project / "base.py"
    base.write_text("def value() -> int:\n    return 1\n")

    def record_slow_bodies(cache: Path) -> None:
        cost_path = cost_file_in(cache)
        recorded = read_costs(cost_path)
        assert set(cycle) <= set(recorded)
        # Bodies of a second each: 4 s in all, 2 s of it for a helper at -n 2.
        write_costs(cost_path, {**recorded, **{name: PhaseCost(0.1, 1.0) for name in cycle}})

    edit = functools.partial(base.write_text, "def value() -> str:\n    return 'one'\n")
    env = {POOL_WORTH_VARIABLE: "1", SHARE_MIN_VARIABLE: "0.25"}
    spans = traced_run_after_edit(tmp_path, warm_cache, project, edit, env, record_slow_bodies)
    assert [event for event in spans if event["name"] == "start-up"]
    on_workers = {event["args"].get("module") for event in spans if event["tid"] > 0 and event["name"] == INTERFACE}
    assert on_workers & set(cycle)


def test_an_scc_checked_by_the_coordinator_records_its_phases_apart(tmp_path: Path, warm_cache: WarmCache) -> None:
    """A small edit checked in-process at `-n 2` leaves its bodies' seconds in the cost file, not all as interface."""
    project = tmp_path / "project"
    project.mkdir()
    body = "".join(f"    x{index} = [str(i) for i in range({index})]\n" for index in range(200))
    (project / "main.py").write_text(f"def f() -> None:\n{body}")
    cache = copied_cache(warm_cache, tmp_path / "cache")
    env = {POOL_WORTH_VARIABLE: "1000"}
    ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, cache, env)
    assert ours.returncode == 0, ours.stdout
    recorded = read_costs(cost_file_in(cache))
    assert recorded["main"].implementation > 0


def test_a_run_that_starts_no_worker_imports_no_protocol(tmp_path: Path, warm_cache: WarmCache) -> None:
    """At `-n 2`, an edit checked in-process and a warm run pay for no worker machinery (about 11 ms to import)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("x: int = 'no'\n")
    cache = copied_cache(warm_cache, tmp_path / "cache")
    env = {POOL_WORTH_VARIABLE: "1000", "PYTHONPROFILEIMPORTTIME": "1"}
    for _ in ("edited", "warm"):
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, cache, env)
        assert ours.returncode == 1
        imported = {line.rsplit("|", 1)[-1].strip() for line in ours.stderr.splitlines() if line.startswith("import time:")}
        assert "mypy_split.parallel" in imported
        assert not imported & {"mypy_split.protocol", "mypy_split.pool"}
