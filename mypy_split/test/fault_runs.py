"""The runs behind the fault-injection tests (test_faults.py): the project, its references, a run watched by pid.

`PROJECT` is the generated project every fault test checks;
`measure_references` finds what `mypy` answers on it cold and warm and how
long a clean `mypy-split -n 2` runs; `fresh_workspace` makes a test's own
copy of the project and a typeshed-only cache; `Run` starts a coordinator in a session
of its own and finds its workers and leftovers.  Also the comparisons the
tests share: `assert_same`, `check_next_run`.
"""

from __future__ import annotations

import difflib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import pytest

from mypy_split.tuning import REPLACEMENTS_VARIABLE, WORKER_SEED_VARIABLE
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool
from mypy_split.test.projects import Project, generate
from mypy_split.test.processes import ProcInfo, describe, leftovers, workers_of
from mypy_split.worker_process import SPAWN_ONLY_VARIABLE


WORKERS = 2
RUN_TIMEOUT = 180.0
GONE_WITHIN = 2.0
STOP_BETWEEN_PHASES = "MYPY_SPLIT_TEST_STOP_BETWEEN_PHASES"
CRASH_ON = "MYPY_SPLIT_TEST_CRASH_ON"
MARKERS = "MYPY_SPLIT_TEST_MARKERS"


def fault_project() -> Project:
    return generate(11, modules=100, packages=5, cycles=10, missing=1)


PROJECT = fault_project()
TARGETS = PROJECT.targets
ARGS = [*TARGETS, "-n", str(WORKERS)]


def module_in_cycle() -> str:
    """A module in an import cycle that other modules import (its SCC has dependents)."""
    graph = PROJECT.import_graph()
    imported = {dep for deps in graph.values() for dep in deps}
    cycles = [scc for scc in PROJECT.cycles() if scc & imported]
    assert cycles, "the fault project has no imported cycle"
    middle = cycles[len(cycles) // 2]
    return sorted(middle & imported)[0]


def module_alone() -> str:
    """A module outside any cycle, imported by others, near the middle of the project."""
    in_cycles = set().union(*PROJECT.cycles())
    imported = {dep for deps in PROJECT.import_graph().values() for dep in deps}
    candidates = [
        spec.name for spec in PROJECT.modules if spec.name in imported and spec.name not in in_cycles
    ]
    return candidates[len(candidates) // 2]


# -- runs -----------------------------------------------------------------------


@dataclass
class Workspace:
    root: Path
    project: Path
    cache: Path
    runs: list[Run] = field(default_factory=list)


@dataclass(frozen=True)
class References:
    cold: RunResult  # mypy on a cache without the project
    warm: RunResult  # mypy again, on the cache it left
    # How long a clean cold `mypy-split -n 2` runs after its first worker
    # appears: kills are timed as fractions of it, on fast and slow machines.
    window: float


def measure_references(tmp_path_factory: pytest.TempPathFactory, warm_cache: WarmCache) -> References:
    """mypy's answers on the project, and a clean run's window (the `references` fixture)."""
    root = tmp_path_factory.mktemp("fault-reference")
    project = PROJECT.write(root / "project")
    cache = root / "cache"
    shutil.copytree(warm_cache([]), cache, symlinks=True)
    split_space = Workspace(root, project, root / "cache-split")
    shutil.copytree(warm_cache([]), split_space.cache, symlinks=True)
    cold = run_tool(MYPY, TARGETS, project, cache, {})
    warm = run_tool(MYPY, TARGETS, project, cache, {})
    assert cold.returncode == 1 and "Traceback" not in cold.stdout + cold.stderr, cold.describe()
    run = Run(split_space)
    run.wait_for_workers()
    first_worker = time.monotonic()
    clean = run.finish()
    window = time.monotonic() - first_worker
    assert_same(cold, clean, "a clean cold run (no fault) answers differently from mypy")
    return References(cold, warm, window)


def fresh_workspace(tmp_path: Path, warm_cache: WarmCache) -> Iterator[Workspace]:
    """A test's copy of the project and cache; runs left going are killed after (the `workspace` fixture)."""
    project = PROJECT.write(tmp_path / "project")
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache([]), cache, symlinks=True)
    space = Workspace(tmp_path, project, cache)
    yield space
    # A test that failed half-way may leave a run going (or a worker stopped).
    for run in space.runs:
        run.kill_all()


def tool_env(cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment run_tool gives, for runs started by hand."""
    env = dict(os.environ)
    for name in (
        "MYPY_FORCE_COLOR", "MYPY_NUM_WORKERS", STOP_BETWEEN_PHASES, CRASH_ON, MARKERS, SPAWN_ONLY_VARIABLE,
        WORKER_SEED_VARIABLE, REPLACEMENTS_VARIABLE,
    ):
        env.pop(name, None)
    env.update({"MYPY_CACHE_DIR": str(cache), "PYTHONSAFEPATH": "1", "TERM": "dumb"})
    env.update(extra or {})
    return env


class Run:
    """A `mypy-split` run started in the background, its output going to files."""

    def __init__(
        self,
        space: Workspace,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        args: list[str] | None = None,
        stdout_pipe: bool = False,
    ) -> None:
        number = len(list(space.root.glob("run-*.out")))
        self.out_path = space.root / f"run-{number}.out"
        self.err_path = space.root / f"run-{number}.err"
        self.space = space
        space.runs.append(self)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.process = subprocess.Popen(
                [*(command or MYPY_SPLIT), *(ARGS if args is None else args)],
                cwd=space.project,
                env=tool_env(space.cache, env),
                stdout=subprocess.PIPE if stdout_pipe else out,
                stderr=err,
                start_new_session=True,
                pipesize=4096 if stdout_pipe else -1,
            )
        self.started = time.monotonic()
        self.exited = self.started
        self.alive_at_exit: list[ProcInfo] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout_pipe(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def running(self) -> bool:
        return self.process.poll() is None

    def pause(self) -> bool:
        """Stop the coordinator (SIGSTOP); False if it had ended."""
        if not self.running():
            return False
        os.kill(self.pid, signal.SIGSTOP)
        return True

    def resume(self) -> None:
        if self.running():
            os.kill(self.pid, signal.SIGCONT)

    def wait_for_workers(self, count: int = 1, timeout: float = 60.0, poll: float = 0.01) -> list[ProcInfo]:
        """Wait until `count` workers run; fails if the run ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = workers_of(self.pid)
            if len(found) >= count:
                return found
            if not self.running():
                self.fail(f"the run ended before {count} worker(s) started")
            time.sleep(poll)
        self.fail(f"no {count} worker(s) after {timeout} s")

    def wait_for_stopped_worker(self, timeout: float = 120.0) -> ProcInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stopped = [info for info in workers_of(self.pid) if info.state == "T"]
            if stopped:
                return stopped[0]
            if not self.running():
                self.fail("the run ended and no worker stopped itself")
            time.sleep(0.01)
        self.fail(f"no worker stopped itself within {timeout} s")

    def finish(self, timeout: float = RUN_TIMEOUT) -> RunResult:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the run did not end within {timeout} s")
        self.exited = time.monotonic()
        self.alive_at_exit = leftovers(self.space.project)
        return RunResult(
            self.out_path.read_text(encoding="utf-8", errors="replace"),
            self.err_path.read_text(encoding="utf-8", errors="replace"),
            self.process.returncode,
        )

    def assert_nothing_left(self, since: float | None = None) -> None:
        """No process of the run outlived the coordinator (it reaps its workers before exiting).

        Where some did, fail, saying how long after `since` (the signal;
        default: the coordinator's exit) they were gone.
        """
        start = self.exited if since is None else since
        if not self.alive_at_exit:
            return
        while (left := leftovers(self.space.project)) and time.monotonic() < start + 10:
            time.sleep(0.01)
        lived = time.monotonic() - start
        for info in left:
            try:
                os.kill(info.pid, signal.SIGKILL)
            except OSError:
                pass
        fate = f"still running {lived:.1f} s later (killed now)" if left else f"gone {lived:.2f} s later"
        over = f" (more than the {GONE_WITHIN} s allowed)" if lived > GONE_WITHIN else ""
        raise AssertionError(
            f"{len(self.alive_at_exit)} process(es) outlived the coordinator, {fate}{over}:\n"
            + describe(self.alive_at_exit)
        )

    def fail(self, problem: str) -> NoReturn:
        """Kill everything this run started, then fail the test."""
        self.kill_all()
        stderr = self.err_path.read_text(errors="replace")[-3000:]
        pytest.fail(f"{problem}\n--- stderr tail\n{stderr}")

    def kill_all(self) -> None:
        """SIGKILL the run's processes still alive (stopped ones included)."""
        pids = {info.pid for info in leftovers(self.space.project)}
        if self.running():
            pids.add(self.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def diff(expected: RunResult, actual: RunResult, expected_name: str = "mypy") -> str:
    parts = []
    if expected.returncode != actual.returncode:
        parts.append(f"exit code: {expected_name} {expected.returncode}, mypy-split {actual.returncode}")
    for stream in ("stdout", "stderr"):
        text = "".join(
            difflib.unified_diff(
                getattr(expected, stream).splitlines(keepends=True),
                getattr(actual, stream).splitlines(keepends=True),
                fromfile=f"{expected_name} {stream}",
                tofile=f"mypy-split {stream}",
            )
        )
        if text:
            parts.append(text)
    return "\n".join(parts)


def assert_same(expected: RunResult, actual: RunResult, what: str) -> None:
    if expected != actual:
        raise AssertionError(f"{what}:\n{diff(expected, actual)}")


def assert_no_traceback(result: RunResult) -> None:
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert "Traceback" not in text, f"a traceback on {name}:\n{text[-4000:]}"


def check_next_run(space: Workspace, references: References) -> None:
    """The cache the faulted run left is sound: the next run gives mypy's answer.

    mypy-split must print exactly what mypy prints on the same cache state
    (a copy of it); the order of a run on a partly written cache is not the
    order of a run on a complete one, but the lines, the summary and the exit
    code must be those of mypy on its own complete cache.
    """
    for_mypy = space.root / "cache-copy-for-mypy"
    shutil.copytree(space.cache, for_mypy, symlinks=True)
    ours = run_tool(MYPY_SPLIT, ARGS, space.project, space.cache, {})
    theirs = run_tool(MYPY, TARGETS, space.project, for_mypy, {})
    assert_same(theirs, ours, "the next run: mypy-split and mypy answer differently on the same cache state")
    assert_same(
        sorted_lines(references.warm),
        sorted_lines(theirs),
        "the next run: mypy on the cache the faulted run left gives other lines than on its own cache",
    )


def sorted_lines(result: RunResult) -> RunResult:
    return RunResult(
        "".join(sorted(result.stdout.splitlines(keepends=True))),
        "".join(sorted(result.stderr.splitlines(keepends=True))),
        result.returncode,
    )
