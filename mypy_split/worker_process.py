"""How a worker process comes to be: forked from the coordinator where it can be, else from its seed, else fresh.

A fresh interpreter (`sys.executable`, never the user's `--python-executable`)
spends about a quarter of a second of CPU importing the engine before it can
do anything, in every worker.  The coordinator has already paid for that
import, so on Linux, while it is still small and runs a single thread (the
workers of a run with an empty cache start before the graph loads), a worker
is forked from it instead and skips the import.  Later in a run the
coordinator can no longer be forked: it holds SQLite connections, a whole
graph, and may have threads.  A SQLite connection must not cross a fork (a
forked worker's own connection then finds the database locked), and forking
a process with threads can deadlock.  Workers started then are forked from
the run's seed (worker_seed.py, when turned on), a copy of the coordinator
made while it was still small; where there is none, they are fresh interpreters (always on
macOS, which does not support forking a process that has used its system
frameworks, and on Windows).

Either way the worker's stdin and stdout are its pipes to the coordinator,
its stderr a third pipe, the user's project folder is off its `sys.path`, and
it holds no other descriptor of the coordinator's but the ones passed on.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from typing import IO, Protocol

import mypy_split

# What a worker calls itself on Linux (`/proc/PID/comm`, at most 15 bytes),
# so that it can be told from its coordinator whichever way it started.
WORKER_NAME = "mypy-split-wkr"
# Forking can be turned off, to compare the two ways or to rule one out.
SPAWN_ONLY_VARIABLE = "MYPY_SPLIT_SPAWN_WORKERS"

# `-c` puts the current folder first on sys.path; drop it before anything is
# imported, and make sure our own package is importable even when it is not
# installed (run from a source checkout).
_BOOT = (
    "import os, sys; cwd = os.getcwd(); "
    "sys.path[:] = [p for p in sys.path if p not in ('', '.', cwd)]; "
    "sys.path.append(sys.argv[1]); "
    "from mypy_split.build_worker.worker import main; main()"
)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(mypy_split.__file__)))
# The exit status of a forked worker whose start failed before it could talk.
_FORKED_START_FAILED = 70


class WorkerProcess(Protocol):
    """What the pool needs of a worker process: its pipes, its pid, waiting and killing."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> IO[bytes] | None: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    @property
    def stderr(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def start_worker_processes(count: int, pass_fds: tuple[int, ...], may_fork: bool) -> list[WorkerProcess]:
    """`count` new worker processes: forked from this process if `may_fork` and that is safe,
    else forked from this run's seed while it has one (worker_seed.py), else fresh interpreters."""
    from mypy_split import worker_seed

    started: list[WorkerProcess] = []
    try:
        if may_fork and fork_is_safe():
            while len(started) < count:
                started.append(fork_worker(pass_fds))
        if len(started) < count:
            started.extend(worker_seed.grow_workers(count - len(started), pass_fds))
        while len(started) < count:
            started.append(spawn_worker(pass_fds))
    except BaseException:
        for process in started:
            process.kill()
            process.wait()
        raise
    return started


def spawn_worker(pass_fds: tuple[int, ...]) -> WorkerProcess:
    """A worker in a fresh interpreter."""
    return subprocess.Popen(
        [sys.executable, "-c", _BOOT, _PACKAGE_PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        pass_fds=pass_fds,
    )


def fork_is_safe() -> bool:
    """Linux, forking not turned off, and no thread but this one (Python's or native)."""
    if not sys.platform.startswith("linux") or os.environ.get(SPAWN_ONLY_VARIABLE):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def name_this_process(name: str = WORKER_NAME) -> None:
    """Call this process `name` where the system has process names (Linux)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:
        pass


def flush_standard_streams() -> None:
    """Before a fork: buffered output would otherwise be written twice, once by each process."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def worker_pipes() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The pipes of one worker: its ends (stdin, stdout, stderr), then this process's."""
    child_in, parent_in = os.pipe()
    parent_out, child_out = os.pipe()
    parent_err, child_err = os.pipe()
    return (child_in, child_out, child_err), (parent_in, parent_out, parent_err)


def fork_worker(pass_fds: tuple[int, ...]) -> ChildWorker:
    """A worker forked from this process, which must be fork-safe (fork_is_safe)."""
    flush_standard_streams()
    child_ends, parent_ends = worker_pipes()
    pid = os.fork()
    if pid == 0:
        become_worker(child_ends, pass_fds)
    for fd in child_ends:
        os.close(fd)
    return ChildWorker(pid, parent_ends)


class ChildWorker:
    """A worker that is our child but no `subprocess.Popen` (forked here, or adopted from the seed),
    with `Popen`'s pipes, waiting and killing."""

    def __init__(self, pid: int, pipes: tuple[int, int, int]) -> None:
        """`pipes`: this process's ends of the worker's stdin, stdout and stderr."""
        self.returncode: int | None = None
        self._pid = pid
        self._stdin = os.fdopen(pipes[0], "wb")
        self._stdout = os.fdopen(pipes[1], "rb")
        self._stderr = os.fdopen(pipes[2], "rb")

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def stdin(self) -> IO[bytes] | None:
        return self._stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self._stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        return self._stderr

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            while self.returncode is None:
                try:
                    _, status = os.waitpid(self._pid, 0)
                except ChildProcessError:
                    break
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode if self.returncode is not None else -signal.SIGKILL
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while (code := self.poll()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"worker {self._pid}", timeout)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)
        return code

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


_inherited_streams: list[object] = []


def become_worker(pipes: tuple[int, int, int], pass_fds: tuple[int, ...]) -> None:
    """In a forked child: take the pipes as fds 0-2, drop everything else of the coordinator's, serve.

    Never returns: the coordinator's code on the stack below must not run here.
    """
    try:
        # Whatever the coordinator holds stays alive and untouched here: no
        # collection finalizes one of its objects (a file object flushing into
        # a descriptor number this process has reused, say).
        gc.freeze()
        name_this_process()
        for number, fd in enumerate(pipes):
            os.dup2(fd, number)
        close_all_but({0, 1, 2, *pass_fds})
        # The coordinator's streams may have been replaced (captured, held);
        # the replaced ones are kept referenced, for the same reason.
        _inherited_streams.extend((sys.stdout, sys.stderr))
        sys.stdout = sys.stderr = os.fdopen(2, "w", buffering=1, errors="backslashreplace", closefd=False)
        # The coordinator's own SIGTERM handler unwinds the coordinator.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cwd = os.getcwd()
        sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]
        from mypy_split.build_worker.worker import main

        main()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(_FORKED_START_FAILED)


def close_all_but(keep: set[int]) -> None:
    """Close every descriptor of this process but `keep`."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # The listing's own descriptor, closed by now.
