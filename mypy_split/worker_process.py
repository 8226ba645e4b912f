"""How a worker process comes to be: forked from the coordinator where it can be, else a fresh interpreter.

A fresh interpreter (`sys.executable`, never the user's `--python-executable`)
spends about a quarter of a second of CPU importing the engine before it can
do anything, in every worker.  The coordinator has already paid for that
import, so on Linux, while it is still small and runs a single thread (the
workers of a run with an empty cache start before the graph loads), a worker
is forked from it instead and skips the import.  Elsewhere, or later in a run
(the coordinator then holds SQLite connections, a whole graph, and may have
threads), workers are fresh interpreters: a SQLite connection must not cross
a fork (a forked worker's own connection then finds the database locked),
forking a process with threads can deadlock, and macOS does not support
forking a process that has used its system frameworks.

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


def start_worker_process(pass_fds: tuple[int, ...], may_fork: bool) -> WorkerProcess:
    """A new worker process; forked only if `may_fork` and this process can be forked safely."""
    if may_fork and fork_is_safe():
        return ForkedWorker(pass_fds)
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


def name_this_process() -> None:
    """Call this process WORKER_NAME where the system has process names (Linux)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(WORKER_NAME)
    except OSError:
        pass


class ForkedWorker:
    """A worker forked from this process, with `subprocess.Popen`'s pipes, waiting and killing."""

    def __init__(self, pass_fds: tuple[int, ...]) -> None:
        self.returncode: int | None = None
        # Buffered output would be written twice, once by each process.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        child_in, parent_in = os.pipe()
        parent_out, child_out = os.pipe()
        parent_err, child_err = os.pipe()
        pid = os.fork()
        if pid == 0:
            _become_worker(child_in, child_out, child_err, pass_fds)
        self._pid = pid
        for fd in (child_in, child_out, child_err):
            os.close(fd)
        self._stdin = os.fdopen(parent_in, "wb")
        self._stdout = os.fdopen(parent_out, "rb")
        self._stderr = os.fdopen(parent_err, "rb")

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


def _become_worker(stdin: int, stdout: int, stderr: int, pass_fds: tuple[int, ...]) -> None:
    """In the forked child: take the pipes as fds 0-2, drop everything else of the coordinator's, serve.

    Never returns: the coordinator's code on the stack below must not run here.
    """
    try:
        # Whatever the coordinator holds stays alive and untouched here: no
        # collection finalizes one of its objects (a file object flushing into
        # a descriptor number this process has reused, say).
        gc.freeze()
        name_this_process()
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        _close_all_but({0, 1, 2, *pass_fds})
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


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # The listing's own descriptor, closed by now.
