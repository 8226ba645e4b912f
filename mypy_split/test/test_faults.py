"""Process-level faults: killed and stopped workers, signals to the coordinator, a closed pipe.

Each test runs `mypy-split -n 2` on a generated project of 100 modules (a cold
run takes a few seconds, so that kills land mid-run), injects one fault, and
then checks what the promise says:

- the run's own answer (mypy's answer, or mypy's way of failing);
- no process is left: none outlives the coordinator (it reaps its workers
  before it exits), looking at every process whose current folder is the
  test's project (workers inherit it);
- the next plain run, `mypy-split -n 2` on the cache the faulted run left,
  prints what `mypy` prints on its own cache, and `mypy` itself answers the
  same from a copy of that cache.

The project has one missing import only, so that these tests are about fault
handling and not about where the only-once note goes (test_generated.py).
Coordinators are started in a session of their own, so that a test that
fails can kill everything it started, and only that.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mypy_split.tuning import POOL_WORTH_SECONDS, POOL_WORTH_VARIABLE, REPLACEMENTS_VARIABLE, WORKER_SEED_VARIABLE
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool
from mypy_split.test.fault_runs import (
    ARGS, CRASH_ON, MARKERS, PROJECT, RUN_TIMEOUT, STOP_BETWEEN_PHASES, TARGETS, WORKERS, References, Run, Workspace,
    assert_no_traceback, assert_same, check_next_run, fresh_workspace, measure_references, module_alone,
    module_in_cycle,
)
from mypy_split.test.processes import WORKER_MARK, ProcInfo, workers_of
from mypy_split.worker_process import WORKER_NAME

@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory, warm_cache: WarmCache) -> References:
    return measure_references(tmp_path_factory, warm_cache)


@pytest.fixture
def workspace(tmp_path: Path, warm_cache: WarmCache) -> Iterator[Workspace]:
    yield from fresh_workspace(tmp_path, warm_cache)


# -- the faults -------------------------------------------------------------------

# Moments at which a worker is killed, as fractions of References.window.
_MOMENTS = random.Random(20240611)
KILL_MOMENTS = [round(_MOMENTS.uniform(low, low + 0.2), 2) for low in (0.0, 0.2, 0.4, 0.6)]


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_sigkill_worker_mid_run(
    moment: float, workspace: Workspace, references: References, warm_cache: WarmCache
) -> None:
    """A worker killed at a random moment costs a retry, not the run.

    If this run is quicker than the clean one and ends before the kill, it is
    tried again from a clean cache with the kill twice as early.
    """
    chooser = random.Random(moment)
    for attempt in range(3):
        delay = moment * references.window / 2**attempt
        shutil.rmtree(workspace.cache)
        shutil.copytree(warm_cache([]), workspace.cache, symlinks=True)
        run = Run(workspace)
        run.wait_for_workers()
        time.sleep(delay)
        victims = workers_of(run.pid)
        if victims and run.running():
            break
        run.finish()
        run.assert_nothing_left()
    else:
        pytest.fail(f"three runs ended before the kill (last at +{delay:.2f} s): no kill landed")
    victim = chooser.choice(victims)
    os.kill(victim.pid, signal.SIGKILL)
    result = run.finish()
    run.assert_nothing_left()
    assert_same(references.cold, result, f"after SIGKILL of worker {victim.pid} at +{delay:.2f} s")
    check_next_run(workspace, references)


def start_forked(space: Workspace) -> None:
    """Empty the run's cache: its workers start before the build opens and are forked (worker_process.py)."""
    shutil.rmtree(space.cache)
    space.cache.mkdir()


def start_env(space: Workspace, start: str) -> dict[str, str]:
    """Set the run up so that its workers start as `start` says; the environment it needs.

    "forked": from the coordinator, on an empty cache; "seeded": from its
    seed (turned on), once the stale work found on the warm cache pays
    (worker_seed.py); "spawned": the same, fresh interpreters (the default).
    """
    if start == "forked":
        start_forked(space)
    return {WORKER_SEED_VARIABLE: "1"} if start == "seeded" else {}


def assert_started_as(worker: ProcInfo, start: str) -> None:
    if start == "spawned":
        assert WORKER_MARK in worker.cmdline, worker
    else:
        assert worker.name == WORKER_NAME and WORKER_MARK not in worker.cmdline, worker


@pytest.mark.parametrize(
    ("target", "start"), [("cycle", "seeded"), ("alone", "seeded"), ("cycle", "spawned"), ("cycle", "forked")]
)
def test_kill_worker_stopped_between_phases(
    target: str, start: str, workspace: Workspace, references: References
) -> None:
    """A worker lost after its interface result, before its implementation result."""
    module = module_in_cycle() if target == "cycle" else module_alone()
    markers = workspace.root / "markers"
    markers.mkdir()
    env = start_env(workspace, start)
    run = Run(workspace, env={**env, STOP_BETWEEN_PHASES: module, MARKERS: str(markers)})
    stopped = run.wait_for_stopped_worker()
    assert_started_as(stopped, start)
    assert (markers / f"stop-{module}").exists()
    os.kill(stopped.pid, signal.SIGKILL)
    result = run.finish()
    run.assert_nothing_left()
    assert_same(references.cold, result, f"after killing the worker stopped between the phases of {module}")
    check_next_run(workspace, references)


@pytest.mark.parametrize("target", ["cycle", "alone"])
def test_worker_crashes_on_every_attempt(target: str, workspace: Workspace, references: References) -> None:
    """Every worker that takes the SCC dies: mypy-split's own error, exit 2, nothing left."""
    module = module_in_cycle() if target == "cycle" else module_alone()
    run = Run(workspace, env={CRASH_ON: module})
    result = run.finish()
    run.assert_nothing_left()
    assert result.returncode == 2, result.describe()
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("mypy-split: error:")]
    assert errors, f"no 'mypy-split: error:' line on stderr:\n{result.describe()}"
    assert module in errors[0] and "killed by SIGKILL" in errors[0], errors[0]
    check_next_run(workspace, references)


def written_share(workspace: Workspace) -> float:
    """The share of the project's modules whose cache entry is written already.

    The engine keeps its cache in SQLite files (one per shard); they are read
    without writing, waiting for a worker's write to end.
    """
    version = workspace.cache / f"{sys.version_info.major}.{sys.version_info.minor}"
    written: set[str] = set()
    for database in version.glob("*.db"):
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            written.update(path for (path,) in db.execute("SELECT path FROM files2") if path.endswith(".meta.ff"))
    return sum(1 for spec in PROJECT.modules if module_meta(spec.name) in written) / len(PROJECT.modules)


def module_meta(module: str) -> str:
    return "/".join(module.split(".")) + ".meta.ff"


@pytest.mark.parametrize("replacements", ["default", "0"])
def test_every_worker_killed_at_once(
    replacements: str, workspace: Workspace, references: References, warm_cache: WarmCache
) -> None:
    """Both workers killed a quarter of the way in: new ones take over (or, none allowed, the coordinator).

    The coordinator is stopped while the test looks and kills, so that what
    it sees is what the coordinator finds: both workers alive and most
    modules still unwritten, hence work not started yet that pays for new
    workers (replacements.py).  The window is measured once, under another
    load: a kill that came late (at the end, nothing is left to replace a
    worker for) is tried again, earlier.
    """
    env = {POOL_WORTH_VARIABLE: "0"} | ({} if replacements == "default" else {REPLACEMENTS_VARIABLE: "0"})
    for attempt in range(4):
        shutil.rmtree(workspace.cache)
        shutil.copytree(warm_cache([]), workspace.cache, symlinks=True)
        trace = workspace.root / f"killed-at-once-{attempt}.json"
        run = Run(workspace, env=env, args=[*ARGS, "--trace", str(trace)])
        first = run.wait_for_workers(WORKERS)
        time.sleep(references.window / 4 / 2**attempt)
        if run.pause() and len(workers_of(run.pid)) == WORKERS and written_share(workspace) <= 0.5:
            break
        run.resume()
        run.finish()
    else:
        pytest.fail("four runs ended (lost a worker, or wrote half of the modules) before the kill")
    for victim in first:
        os.kill(victim.pid, signal.SIGKILL)
    run.resume()
    later: set[int] = set()
    while run.running():
        later.update(info.pid for info in workers_of(run.pid))
        time.sleep(0.01)
    result = run.finish()
    run.assert_nothing_left()
    started = later - {victim.pid for victim in first}
    assert bool(started) == (replacements == "default"), (
        f"workers started after the kill: {sorted(started)}; the run's trace rows: {trace_rows(trace)}"
    )
    assert_same(references.cold, result, f"after killing every worker ({replacements} replacements)")
    check_next_run(workspace, references)


def trace_rows(trace: Path) -> dict[str, list[str]]:
    """Per row of a run's trace (coordinator, workers), its last spans' names in order, for a failure's message."""
    events = json.loads(trace.read_text())["traceEvents"]
    names = {event["tid"]: event["args"]["name"] for event in events if event.get("ph") == "M"}
    rows: dict[str, list[str]] = {}
    for event in sorted((e for e in events if e.get("ph") == "X"), key=lambda e: e["ts"]):
        module = event.get("args", {}).get("module", "")
        rows.setdefault(names.get(event["tid"], str(event["tid"])), []).append(f"{event['name']} {module}".strip())
    return {name: spans[-30:] for name, spans in rows.items()}


# When a signal is sent: while the pool is starting (the coordinator is
# stopped with SIGSTOP as soon as its first worker process exists, 8 being
# due, and resumed once the signal is pending), or a tenth of the way through
# the clean run's window.  (The window is measured once, from a run whose
# workers start while the graph loads, and often while every test process
# is busy; a seeded run's workers come later, and a run near the end of the
# suite has the machine to itself: at a third, two seeded runs in one CI
# run had ended before the signal.)  A run that still ends first is tried
# again from the same cache state, with the signal twice as early.
SIGNAL_MOMENTS = ["pool-starting", "mid-run"]
POOL_STARTING_ARGS = [*TARGETS, "-n", "8"]
SIGNAL_ATTEMPTS = 3


def start_for(moment: str, space: Workspace, env: dict[str, str] | None, signum: int) -> Run:
    args = POOL_STARTING_ARGS if moment == "pool-starting" else ARGS
    # For SIGTERM, a run that fails inside instead of dying of the signal shows
    # where (Ctrl-C with it prints a traceback, as mypy does: not for SIGINT).
    return Run(space, env=env, args=[*args, "--show-traceback"] if signum == signal.SIGTERM else args)


def signalled_run(
    space: Workspace, warm_cache: WarmCache, references: References, moment: str, start: str, signum: int,
    to_group: bool = False,
) -> tuple[Run, float]:
    """A run started as `start` says and sent `signum` at the moment; the run and when (time.monotonic()) it went."""
    delay = references.window / 10
    for attempt in range(SIGNAL_ATTEMPTS):
        if attempt:
            shutil.rmtree(space.cache)
            shutil.copytree(warm_cache([]), space.cache, symlinks=True)
        run = start_for(moment, space, start_env(space, start), signum)
        if moment == "pool-starting":
            run.wait_for_workers(1, poll=0.0005)
            os.kill(run.pid, signal.SIGSTOP)
        else:
            assert_started_as(run.wait_for_workers(WORKERS)[0], start)
            time.sleep(delay / 2**attempt)
        if run.running():
            sent = time.monotonic()
            if to_group:
                os.killpg(run.pid, signum)
            else:
                os.kill(run.pid, signum)
            os.kill(run.pid, signal.SIGCONT)
            return run, sent
        if moment == "pool-starting":
            run.fail("the run ended while stopped")
        run.finish()
        run.assert_nothing_left()
    pytest.fail(f"{SIGNAL_ATTEMPTS} runs ended before the signal (last at +{delay / 2**attempt:.3f} s)")


@pytest.mark.parametrize(
    ("moment", "to_group", "start"),
    [
        *((moment, to_group, "seeded") for moment in SIGNAL_MOMENTS for to_group in (False, True)),
        ("pool-starting", True, "spawned"),
    ],
    ids=lambda value: {False: "coordinator", True: "process-group"}.get(value, value),
)
def test_sigint(
    to_group: bool, moment: str, start: str, workspace: Workspace, references: References, warm_cache: WarmCache
) -> None:
    """Ctrl-C: "Interrupted", exit 2, no traceback, every worker gone at once.

    Sent to the coordinator alone, or to its whole process group as a
    terminal's Ctrl-C is.
    """
    run, sent = signalled_run(workspace, warm_cache, references, moment, start, signal.SIGINT, to_group)
    result = run.finish()
    run.assert_nothing_left(since=sent)
    assert_no_traceback(result)
    assert result.returncode == 2, result.describe()
    assert result.stdout.endswith("Interrupted\n"), result.describe()
    check_next_run(workspace, references)


@pytest.mark.parametrize(
    ("moment", "start"),
    [*((moment, "seeded") for moment in SIGNAL_MOMENTS), ("pool-starting", "spawned"), ("mid-run", "forked")],
)
def test_sigterm(
    moment: str, start: str, workspace: Workspace, references: References, warm_cache: WarmCache
) -> None:
    """SIGTERM: workers stopped at once, then the coordinator dies of SIGTERM."""
    run, sent = signalled_run(workspace, warm_cache, references, moment, start, signal.SIGTERM)
    result = run.finish()
    run.assert_nothing_left(since=sent)
    assert result.returncode == -signal.SIGTERM, result.describe()
    assert_no_traceback(result)
    check_next_run(workspace, references)


def read_one_line_then_close(space: Workspace, command: list[str], args: list[str]) -> tuple[Run, RunResult]:
    """`COMMAND ARGS | head -1`: the reader goes away after the first line."""
    run = Run(space, command=command, args=args, stdout_pipe=True)
    pipe = run.stdout_pipe
    ready, _, _ = select.select([pipe], [], [], RUN_TIMEOUT)
    if not ready:
        run.fail(f"no output within {RUN_TIMEOUT} s")
    first = pipe.readline()
    pipe.close()
    result = run.finish()
    return run, RunResult(first.decode(errors="replace"), result.stderr, result.returncode)


def test_closed_stdout_pipe(workspace: Workspace, references: References, tmp_path: Path) -> None:
    """The output's reader goes away: exit 2 and no traceback, as mypy does."""
    mypy_space = Workspace(tmp_path, workspace.project, tmp_path / "cache-mypy", workspace.runs)
    shutil.copytree(workspace.cache, mypy_space.cache, symlinks=True)
    _, theirs = read_one_line_then_close(mypy_space, MYPY, TARGETS)
    run, ours = read_one_line_then_close(workspace, MYPY_SPLIT, ARGS)
    run.assert_nothing_left()
    assert theirs.returncode == 2, f"mypy itself: {theirs.describe()}"
    assert_no_traceback(ours)
    assert_same(theirs, ours, "with the stdout pipe closed after one line")
    check_next_run(workspace, references)


def test_a_small_incremental_run_starts_no_worker(workspace: Workspace, references: References) -> None:
    """One edited leaf is less work than starting workers: it is checked in-process.

    The proof is the crash hook: a worker taking that module would die, so
    the run answers right only if no worker took it.  With the threshold at
    zero the same run does use a worker (and dies), so the test can fail.
    """
    warm = Run(workspace).finish()
    assert_same(references.cold, warm, "the warm-up run")
    module = module_alone()
    path = workspace.project / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + "\nextra_name = 1\n", encoding="utf-8")
    mypy_cache = workspace.root / "cache-mypy"
    shutil.copytree(workspace.cache, mypy_cache, symlinks=True)
    forced_space = Workspace(workspace.root, workspace.project, workspace.root / "cache-forced")
    shutil.copytree(workspace.cache, forced_space.cache, symlinks=True)
    expected = run_tool(MYPY, TARGETS, workspace.project, mypy_cache, {})
    small = Run(workspace, env={CRASH_ON: module, POOL_WORTH_VARIABLE: str(POOL_WORTH_SECONDS)}).finish()
    assert_same(expected, small, "a one-module edit with the default threshold")
    forced = Run(forced_space, env={CRASH_ON: module, POOL_WORTH_VARIABLE: "0"}).finish()
    assert forced.returncode == 2 and "killed by SIGKILL" in forced.stderr, forced.describe()
