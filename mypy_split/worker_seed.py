"""The seed: a copy of the coordinator made early in a run, from which workers started later are forked.

Workers of a run with an empty cache are forked from the coordinator before
the build opens (worker_process.py).  When the cache exists, workers start
only once the stale work found pays for them (pool_decision.py), and by then
the coordinator can no longer be forked; a fresh interpreter then spends
about a quarter of a second of CPU importing the engine, per worker, on the
cores the run needs.

So on Linux, with MYPY_SPLIT_WORKER_SEED=1 (off by default: a run that
starts no worker pays about 10 ms of copy-on-write faults for it, see
README), a run with workers on an existing cache first forks a seed,
while the coordinator is still small and runs a single thread: an idle copy
that holds a socket, the descriptors workers inherit, and nothing else.  If
the run needs workers, the coordinator makes their pipes and sends the
seed's ends over the socket; the seed forks one worker per set and then
exits.  For that moment the coordinator is a child subreaper: the workers,
orphaned by the seed's exit, become its own children, so it waits for them
and reads their exit status as it does for any worker.  A run that needs no
workers retires the seed unused.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import time

from mypy_split.worker_process import (
    ChildWorker,
    become_worker,
    close_all_but,
    flush_standard_streams,
    fork_is_safe,
    name_this_process,
    worker_pipes,
)

# What the seed calls itself on Linux (`/proc/PID/comm`, at most 15 bytes).
SEED_NAME = "mypy-split-seed"
# How long the seed may take to answer a request, or to exit when retired.
_PATIENCE = 5.0
_PR_SET_CHILD_SUBREAPER = 36
_PID_BYTES = 8


class WorkerSeed:
    """The coordinator's handle on its seed: the seed's pid and this process's end of their socket."""

    def __init__(self, pid: int, channel: socket.socket, pass_fds: tuple[int, ...]) -> None:
        self.pid = pid
        self.pass_fds = pass_fds
        self._channel = channel

    def grow(self, count: int) -> list[ChildWorker]:
        """Up to `count` workers forked by the seed, now this process's children; the seed is spent.

        Fewer if the seed failed (the caller starts the others another way).
        """
        workers: list[ChildWorker] = []
        if not _set_child_subreaper(True):
            self.retire()
            return workers
        try:
            while len(workers) < count:
                worker = self._request_one()
                if worker is None:
                    break
                workers.append(worker)
        finally:
            # The workers are adopted once the seed has exited and been reaped.
            self.retire()
            _set_child_subreaper(False)
        return workers

    def _request_one(self) -> ChildWorker | None:
        child_ends, parent_ends = worker_pipes()
        try:
            socket.send_fds(self._channel, [b"w"], list(child_ends))
            reply = self._channel.recv(_PID_BYTES)
        except OSError:
            reply = b""
        finally:
            for fd in child_ends:
                os.close(fd)
        if len(reply) != _PID_BYTES:
            for fd in parent_ends:
                os.close(fd)
            return None
        return ChildWorker(int.from_bytes(reply, "little"), parent_ends)

    @property
    def released(self) -> bool:
        return self._channel.fileno() < 0

    def release(self) -> None:
        """Let the seed exit, without waiting for it (its exit takes milliseconds)."""
        self._channel.close()

    def retire(self) -> None:
        """Let the seed exit (killed if it does not), and reap it."""
        self.release()
        deadline = time.monotonic() + _PATIENCE
        pause = 0.0002
        while True:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(pause)
            pause = min(pause * 2, 0.01)


# This process's seed, between `plant` and its use or retirement.
_planted: WorkerSeed | None = None


def plant(pass_fds: tuple[int, ...]) -> None:
    """Fork this run's seed, if forking is safe here (see worker_process.fork_is_safe)."""
    global _planted
    if _planted is not None or not fork_is_safe():
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    flush_standard_streams()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _serve(theirs, pass_fds)
    theirs.close()
    ours.settimeout(_PATIENCE)
    _planted = WorkerSeed(pid, ours, pass_fds)


def grow_workers(count: int, pass_fds: tuple[int, ...]) -> list[ChildWorker]:
    """Workers forked from this run's seed, if it has one that passes on `pass_fds` (it is spent)."""
    global _planted
    seed, _planted = _planted, None
    if seed is None:
        return []
    if seed.released or seed.pass_fds != pass_fds:
        seed.retire()
        return []
    return seed.grow(count)


def release() -> None:
    """Let this run's seed, if it was not used, exit now: no worker will be started any more."""
    if _planted is not None:
        _planted.release()


def retire() -> None:
    """Retire this run's seed, if it was not used, and reap it."""
    global _planted
    seed, _planted = _planted, None
    if seed is not None:
        seed.retire()


def _serve(channel: socket.socket, pass_fds: tuple[int, ...]) -> None:
    """The seed's life: fork a worker for each set of pipes received; exit when the coordinator is done.

    Never returns: the coordinator's code on the stack below must not run here.
    """
    try:
        # As in a forked worker: nothing of the coordinator's is finalized here.
        gc.freeze()
        name_this_process(SEED_NAME)
        # Ctrl-C reaches the whole process group; the coordinator retires us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _let_go_of_coordinator_streams()
        close_all_but({0, 1, 2, channel.fileno(), *pass_fds})
        while True:
            message, fds, _, _ = socket.recv_fds(channel, 16, 3)
            if not message or len(fds) != 3:
                break
            pid = os.fork()
            if pid == 0:
                channel.close()
                become_worker((fds[0], fds[1], fds[2]), pass_fds)
            for fd in fds:
                os.close(fd)
            channel.send(pid.to_bytes(_PID_BYTES, "little"))
    finally:
        os._exit(0)


def _let_go_of_coordinator_streams() -> None:
    """Hold none of the coordinator's output: whoever reads it to its end must not wait for the seed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _set_child_subreaper(on: bool) -> bool:
    """Make this process adopt its orphaned descendants (Linux `prctl`), or stop; whether that worked."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
