"""How workers start: forked from a small single-threaded coordinator or from its seed on Linux, else fresh interpreters.

The pool is driven from a fresh Python process of its own: the test process
runs threads (pytest-xdist), and a process with threads is never forked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mypy_split import worker_seed
from mypy_split.worker_process import SPAWN_ONLY_VARIABLE, WORKER_NAME, fork_is_safe

LINUX = sys.platform.startswith("linux")

# Starts a pool of two workers with a descriptor to pass on, waits for both to
# be ready, and reports what each worker holds before the pool is closed.
# Its argument: "fork" (this process may fork them), or "seed" (a seed is
# planted, then a thread makes this process unsafe to fork).
POOL_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, sys, threading, time
    from mypy_split import worker_seed
    from mypy_split.pool import Received, WorkerPool
    from mypy_split.protocol import Ready
    from mypy_split.task_messages import hello_for

    passed = os.open("passed.txt", os.O_RDONLY)
    hello = hello_for(["program.py"], os.getcwd(), None, None)
    seed = None
    if sys.argv[1] in ("seed", "dead seed", "no subreaper"):
        worker_seed.plant((passed,))
        seed = worker_seed._planted.pid if worker_seed._planted else None
        if seed is not None and sys.argv[1] == "dead seed":
            os.kill(seed, 9)
        if sys.argv[1] == "no subreaper":
            # As where prctl is refused (seccomp, say): orphans could not be adopted.
            worker_seed._set_child_subreaper = lambda on: False
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
    pool = WorkerPool(2, hello, (passed,), may_fork=sys.argv[1] == "fork")
    seed_gone = seed is None or not os.path.exists(f"/proc/{seed}")
    subreaper = ctypes.c_int(-1)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(37, ctypes.byref(subreaper), 0, 0, 0)
    ready = {}
    deadline = time.monotonic() + 60
    while len(ready) < 2 and time.monotonic() < deadline:
        for event in pool.poll(1.0):
            if isinstance(event, Received) and isinstance(event.message, Ready):
                ready[event.worker.index] = event.message.error
    own_pipes = {
        worker.pid: sorted(
            os.readlink(f"/proc/self/fd/{stream.fileno()}")
            for stream in (worker.process.stdin, worker.process.stdout, worker.process.stderr)
        )
        for worker in pool.workers
    }
    report = []
    for worker in pool.workers:
        pid = worker.pid
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        with open(f"/proc/{pid}/comm") as comm:
            name = comm.read().strip()
        with open(f"/proc/{pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        report.append({
            "pid": pid,
            "ours": parent == os.getpid(),
            "kind": type(worker.process).__name__,
            "name": name,
            "pipes": sorted(t for t in targets if t.startswith("pipe:")),
            "own_pipes": own_pipes[pid],
            "passed": any(t.endswith("passed.txt") for t in targets),
        })
    pool.close()
    gone = all(not os.path.exists(f"/proc/{entry['pid']}") for entry in report)
    print(json.dumps({
        "ready": ready, "workers": report, "gone": gone,
        "seed": seed, "seed_gone": seed_gone, "subreaper": subreaper.value,
    }))
    """
)


# A cold run's early pool, started twice in one process: before any build
# opened a cache, then after one did (a second build, as after --install-types).
EARLY_POOL_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import mypy.main
    from mypy.fscache import FileSystemCache
    from mypy_split import driver, engine

    argv = ["program.py", "--cache-dir", "cache", "--no-sqlite-cache"]
    parallelism = driver.Parallelism(2, argv, os.getcwd(), cold_cache=True)
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(argv, fscache=fscache)
    kinds = []
    for opened_before in (False, True):
        if opened_before:
            engine.open_build(
                sources, options, fscache=fscache, flush_errors=lambda *a: None, stdout=sys.stderr, stderr=sys.stderr
            )
        pool = driver.start_pool_early(options, parallelism)
        kinds.append(sorted({type(worker.process).__name__ for worker in pool.workers}))
        pool.kill()
    print(json.dumps(kinds))
    """
)


# A run whose coordinator is interrupted while it is built (as by Ctrl-C or
# SIGTERM arriving then), after its workers started: what children are left
# once the build has unwound.  Its argument: "cold" (workers started before
# the build opened), or "warm" (started while the graph loads, the cache
# known to exist).
INTERRUPTED_COORDINATOR_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import mypy.main
    from mypy.fscache import FileSystemCache
    from mypy_split import driver, parallel
    from mypy_split.output import MessageSink
    from mypy_split.own_flags import OwnFlags

    started = []
    def interrupted(self, plan, manager, worker_count, hello, show, pool, *rest):
        started.append(len(pool.workers) if pool is not None else 0)
        raise KeyboardInterrupt
    parallel.Coordinator.__init__ = interrupted
    argv = ["program.py", "--cache-dir", "cache", "--no-sqlite-cache"]
    parallelism = driver.Parallelism(2, argv, os.getcwd())
    if sys.argv[1] == "warm":
        fscache = FileSystemCache()
        sources, options = mypy.main.process_options(argv, fscache=fscache)
        sink = MessageSink(options, sys.stderr, sys.stderr, OwnFlags())
        driver.run_build(sources, options, fscache, sink, sys.stderr, sys.stderr, None)
        with open("program.py", "a") as program:
            program.write("y: str = 'changed'\\n")
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(argv, fscache=fscache)
    sink = MessageSink(options, sys.stderr, sys.stderr, OwnFlags())
    try:
        driver.run_build(sources, options, fscache, sink, sys.stderr, sys.stderr, parallelism)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    children = [
        name for name in os.listdir("/proc") if name.isdigit() and os.path.exists(f"/proc/{name}/stat")
        and int(open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    ]
    print(json.dumps({"outcome": outcome, "started": started, "children": children}))
    """
)


def run_script(tmp_path: Path, script: str, spawn_only: bool = False, argument: str = "") -> object:
    (tmp_path / "program.py").write_text("x: int = 1\n")
    (tmp_path / "passed.txt").write_text("")
    env = dict(os.environ)
    env.pop(SPAWN_ONLY_VARIABLE, None)
    if spawn_only:
        env[SPAWN_ONLY_VARIABLE] = "1"
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", script, argument], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_pool(tmp_path: Path, spawn_only: bool, start: str = "fork") -> dict[str, object]:
    result = run_script(tmp_path, POOL_SCRIPT, spawn_only, start)
    assert isinstance(result, dict)
    return result


def assert_workers_hold_only_their_own(result: dict[str, object], kind: str) -> None:
    """Both workers ready, children of the pool's process, holding their pipes and the passed descriptor."""
    assert result["ready"] == {"0": [], "1": []}
    workers = result["workers"]
    assert isinstance(workers, list) and len(workers) == 2
    for worker in workers:
        assert worker["kind"] == kind
        assert worker["ours"], worker
        # Another worker's pipe held here would hide that worker's exit.
        assert set(worker["pipes"]) <= set(worker["own_pipes"]), worker
        assert worker["passed"]
    assert result["gone"], "a worker was left after the pool closed"


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_an_interrupt_while_the_coordinator_is_built_stops_its_workers(tmp_path: Path, cache: str) -> None:
    """Between the workers' start and the coordinator's own cleanup, the driver stops them, reaped."""
    result = run_script(tmp_path, INTERRUPTED_COORDINATOR_SCRIPT, argument=cache)
    assert result == {"outcome": "interrupted", "started": [2], "children": []}


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_forked_workers_hold_only_their_own_pipes_and_the_passed_descriptor(tmp_path: Path) -> None:
    result = run_pool(tmp_path, spawn_only=False)
    assert_workers_hold_only_their_own(result, "ChildWorker")
    workers = result["workers"]
    assert isinstance(workers, list)
    assert all(worker["name"] == WORKER_NAME for worker in workers)


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_workers_grown_from_the_seed_are_adopted_and_hold_only_their_own(tmp_path: Path) -> None:
    """A process that can no longer fork gets its workers from the seed it planted, as its own children."""
    result = run_pool(tmp_path, spawn_only=False, start="seed")
    assert isinstance(result["seed"], int)
    assert_workers_hold_only_their_own(result, "ChildWorker")
    workers = result["workers"]
    assert isinstance(workers, list)
    assert all(worker["name"] == WORKER_NAME for worker in workers)
    assert result["seed_gone"], "the seed was not reaped once spent"
    assert result["subreaper"] == 0, "the pool's process still adopts orphans"


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
@pytest.mark.parametrize("start", ["dead seed", "no subreaper"])
def test_workers_are_spawned_when_the_seed_cannot_give_them(tmp_path: Path, start: str) -> None:
    """A seed killed before use, or a system that refuses to make us a subreaper: fresh interpreters."""
    result = run_pool(tmp_path, spawn_only=False, start=start)
    assert isinstance(result["seed"], int)
    assert_workers_hold_only_their_own(result, "Popen")
    assert result["seed_gone"], "the seed was not reaped"
    assert result["subreaper"] == 0


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_an_unused_seed_is_retired_and_reaped(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, os, time
        from mypy_split import worker_seed

        def links(pid):
            found = {}
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
                except FileNotFoundError:
                    pass  # closed while we looked: the seed is still letting go
            return found

        worker_seed.plant(())
        seed = worker_seed._planted.pid
        deadline = time.monotonic() + 30
        # Settled once it has named itself, let go of our standard streams and
        # closed what it does not hold (in that order: named with only 4
        # descriptors, it may not have let go of the streams yet).
        while time.monotonic() < deadline:
            with open(f"/proc/{seed}/comm") as comm:
                name = comm.read().strip()
            held = links(seed)
            streams_gone = all(held.get(fd) == os.devnull for fd in ("0", "1", "2"))
            if name == worker_seed.SEED_NAME and streams_gone and len(held) <= 4:
                break
            time.sleep(0.01)
        worker_seed.retire()
        print(json.dumps([name, held, os.path.exists(f"/proc/{seed}"), worker_seed._planted is None]))
        """
    )
    result = run_script(tmp_path, script)
    assert isinstance(result, list)
    name, held, left, forgotten = result
    assert isinstance(held, dict)
    assert name == worker_seed.SEED_NAME
    # Its standard streams are not ours (a reader of our output must never
    # wait for the seed); besides them it holds its socket and nothing else.
    assert [held.pop(fd) for fd in ("0", "1", "2")] == [os.devnull] * 3
    assert [target.startswith("socket:") for target in held.values()] == [True], held
    assert not left, "the seed is left (or a zombie) after its retirement"
    assert forgotten


def test_spawned_workers_when_forking_is_turned_off(tmp_path: Path) -> None:
    for start in ("fork", "seed"):
        result = run_pool(tmp_path, spawn_only=True, start=start)
        assert result["seed"] is None
        assert_workers_hold_only_their_own(result, "Popen")


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_a_process_with_another_thread_is_not_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPAWN_ONLY_VARIABLE, raising=False)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not fork_is_safe()
    finally:
        stop.set()
        thread.join()


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_forking_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPAWN_ONLY_VARIABLE, "1")
    assert not fork_is_safe()


@pytest.mark.skipif(not LINUX, reason="workers are forked on Linux only")
def test_no_fork_once_a_build_of_this_process_has_opened_a_cache(tmp_path: Path) -> None:
    assert run_script(tmp_path, EARLY_POOL_SCRIPT) == [["ChildWorker"], ["Popen"]]
