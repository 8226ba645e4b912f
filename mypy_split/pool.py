"""The worker pool, coordinator side: start processes, send frames, collect events.

Workers (forked or fresh interpreters, see worker_process.py) talk over their
stdin/stdout, which carry our frames.  `poll` turns everything that happens
into events: a message arrived, or a worker is gone (with its exit status and
the tail of its stderr).  Writes go through one thread per worker so that a
big frame never blocks the loop.
"""

from __future__ import annotations

import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from mypy_split.protocol import FrameReader, Message, ProtocolError, Shutdown, encode
from mypy_split.worker_process import WorkerProcess, start_worker_processes

_STDERR_TAIL = 16 * 1024
SHUTDOWN_GRACE = 1.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class Received:
    worker: WorkerHandle
    message: Message


@dataclass
class Lost:
    worker: WorkerHandle
    cause: str


Event = Received | Lost


@dataclass(eq=False)
class WorkerHandle:
    index: int
    process: WorkerProcess
    outbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    reader: FrameReader = field(default_factory=FrameReader)
    stderr_tail: bytearray = field(default_factory=bytearray)
    alive: bool = True
    # Stopped by the coordinator, which reaps it: no work for it while its loss is still on the way.
    retired: bool = False
    task: int | None = None
    # A task sent ahead, which the worker starts when `task` is done.
    next_task: int | None = None
    # Kept idle while a child forked by this worker (its index) uses the CPU (shared_tasks.py).
    parked_for: int | None = None
    # When the process was started (time.monotonic()), for the trace.
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    def retire(self) -> None:
        """Stop this worker for good, now: once this returns it can no longer write to the cache.

        The pool reads the end of its pipe later, as a loss; until then it
        must not count as live, or it would be given tasks that are then lost
        with it (and counted against them).
        """
        self.retired = True
        self.process.kill()
        self.process.wait()


class WorkerPool:
    def __init__(
        self,
        count: int,
        first_message: Message,
        pass_fds: tuple[int, ...] = (),
        may_fork: bool = False,
        first_worker_message: Message | None = None,
    ) -> None:
        """Start `count` workers; `may_fork`: this process is still small (see worker_process.py).

        `first_worker_message`, if given, goes to the first worker instead of
        `first_message` (a head start: see head_start.py).
        """
        self.workers: list[WorkerHandle] = []
        self.head_start = first_worker_message is not None
        # The cache lock: a worker outliving a killed coordinator keeps it held.
        self._pass_fds = pass_fds
        self._selector = selectors.DefaultSelector()
        self._threads: list[threading.Thread] = []
        try:
            self._start(count, may_fork)
        except BaseException:
            # Ctrl-C or SIGTERM while starting: the caller never gets a pool
            # to stop, so stop what was started here.
            self.kill()
            raise
        for worker in self.workers:
            first = first_worker_message if worker.index == 0 and first_worker_message else first_message
            self.send(worker, first)

    def _start(self, count: int, may_fork: bool) -> None:
        # Ctrl-C or SIGTERM between the fork and our recording the child would
        # leave a worker nobody stops: hold those signals until it is recorded.
        # The writer threads are started meanwhile so that they inherit the
        # mask: only the main thread may then take them.  (The children inherit
        # the mask too; a worker unblocks them first thing.)  Every process is
        # started before any thread, so that each can still be forked.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for index, process in enumerate(start_worker_processes(count, self._pass_fds, may_fork)):
                self.workers.append(WorkerHandle(index, process))
            for worker in self.workers:
                thread = threading.Thread(target=self._write_loop, args=(worker,), daemon=True)
                thread.start()
                self._threads.append(thread)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for worker in self.workers:
            process = worker.process
            assert process.stdout is not None and process.stderr is not None
            os.set_blocking(process.stdout.fileno(), False)
            os.set_blocking(process.stderr.fileno(), False)
            self._selector.register(process.stdout, selectors.EVENT_READ, (worker, "out"))
            self._selector.register(process.stderr, selectors.EVENT_READ, (worker, "err"))

    @property
    def live_workers(self) -> list[WorkerHandle]:
        """The workers that may be given work."""
        return [worker for worker in self.workers if worker.alive and not worker.retired]

    def send(self, worker: WorkerHandle, message: Message) -> None:
        """Queue a frame; a worker that cannot take it shows up later as Lost."""
        if worker.alive:
            worker.outbox.put(encode(message))

    def send_frame(self, worker: WorkerHandle, frame: bytes) -> None:
        if worker.alive:
            worker.outbox.put(frame)

    def _write_loop(self, worker: WorkerHandle) -> None:
        stdin = worker.process.stdin
        assert stdin is not None
        while True:
            frame = worker.outbox.get()
            if frame is None:
                break
            try:
                stdin.write(frame)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                break  # The read side sees the end of the process and reports it.
        try:
            stdin.close()
        except OSError:
            pass

    def poll(self, timeout: float | None) -> list[Event]:
        events: list[Event] = []
        for key, _ in self._selector.select(timeout):
            worker, stream = key.data
            try:
                data = os.read(key.fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if stream == "err":
                self._keep_stderr(worker, key.fileobj, data)
                continue
            if not data:
                events.append(self._lose(worker, None))
                continue
            try:
                events.extend(Received(worker, message) for message in worker.reader.feed(data))
            except ProtocolError as error:
                events.append(self._lose(worker, f"sent a bad frame ({error})"))
        return events

    def _keep_stderr(self, worker: WorkerHandle, stream: object, data: bytes) -> None:
        if not data:
            self._unregister(stream)
            return
        worker.stderr_tail.extend(data)
        del worker.stderr_tail[:-_STDERR_TAIL]

    def _unregister(self, stream: object) -> None:
        try:
            self._selector.unregister(stream)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            pass

    def _lose(self, worker: WorkerHandle, problem: str | None) -> Lost:
        worker.alive = False
        assert worker.process.stdout is not None
        self._unregister(worker.process.stdout)
        if problem is not None:
            worker.process.kill()
        returncode = worker.process.wait()
        self._drain_stderr(worker)
        worker.outbox.put(None)
        return Lost(worker, problem or describe_exit(returncode))

    def _drain_stderr(self, worker: WorkerHandle) -> None:
        stderr = worker.process.stderr
        assert stderr is not None
        try:
            while data := os.read(stderr.fileno(), 1 << 16):
                worker.stderr_tail.extend(data)
        except OSError:
            pass
        del worker.stderr_tail[:-_STDERR_TAIL]
        self._unregister(stderr)

    def close(self) -> None:
        """Stop every worker: ask, wait briefly, then kill; reap them all."""
        for worker in self.workers:
            if worker.alive:
                worker.outbox.put(encode(Shutdown()))
                worker.outbox.put(None)
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for worker in self.workers:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                worker.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.alive = False
        for worker in self.workers:
            for stream in (worker.process.stdout, worker.process.stderr):
                if stream is not None:
                    self._unregister(stream)
                    stream.close()
        self._selector.close()

    def kill(self) -> None:
        """Stop every worker now (Ctrl-C, fatal errors); reap them all."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.alive = False
            worker.outbox.put(None)
        self.close()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"
