"""The worker pool, coordinator side: start processes, send frames, collect events.

Workers (forked or fresh interpreters, see worker_process.py) talk over their
stdin/stdout, which carry our frames.  `poll` turns everything that happens
into events: a message arrived, or a worker is gone (with its exit status and
the tail of its stderr).  Frames are written by the coordinator's own loop and
never block it: what a worker's pipe cannot take at once waits in that
worker's `Outbox` and goes out from `poll` as the pipe drains.  (Not a writer
thread per worker: each frame would cost a thread wake-up and a hand-over of
the interpreter lock, about half a millisecond of the loop on a busy machine.)
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from mypy_split.framing import FrameReader
from mypy_split.protocol import Message, ProtocolError, Shutdown, encode
from mypy_split.tuning import PIPE_ROOM_BYTES, pipe_room
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
    # Frames for its input pipe (set up when the process is started).
    outbox: Outbox | None = None
    reader: FrameReader = field(default_factory=FrameReader)
    stderr_tail: bytearray = field(default_factory=bytearray)
    alive: bool = True
    # Stopped by the coordinator, which reaps it: no work for it while its loss is still on the way.
    retired: bool = False
    task: int | None = None
    # Tasks sent ahead, which the worker runs in this order when `task` is done.
    queued: deque[int] = field(default_factory=deque)
    # Tasks of a batch whose results the worker holds back for the batch's last (batches.py).
    holding: set[int] = field(default_factory=set)
    # Kept idle while a child forked by this worker (its index) uses the CPU (shared_tasks.py).
    parked_for: int | None = None
    # When the process was started (time.monotonic()), for the trace.
    started: float = field(default_factory=time.monotonic)
    # The interface hashes sent to it so far (the process keeps them), by module.
    hashes_sent: dict[str, bytes] = field(default_factory=dict)

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
        self._closed = False
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

    def _start(self, count: int, may_fork: bool) -> list[WorkerHandle]:
        """`count` more workers, numbered on from those there, connected; returns them."""
        # Ctrl-C or SIGTERM between the fork and our recording the child would
        # leave a worker nobody stops: hold those signals until it is recorded.
        # (The children inherit the mask; a worker unblocks them first thing.)
        started = []
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for process in start_worker_processes(count, self._pass_fds, may_fork):
                worker = WorkerHandle(len(self.workers), process)
                self.workers.append(worker)
                started.append(worker)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for worker in started:
            self._connect(worker)
        return started

    def _connect(self, worker: WorkerHandle) -> None:
        process = worker.process
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        worker.outbox = Outbox(process.stdin.fileno(), pipe_room())
        os.set_blocking(process.stdout.fileno(), False)
        os.set_blocking(process.stderr.fileno(), False)
        self._selector.register(process.stdout, selectors.EVENT_READ, (worker, "out"))
        self._selector.register(process.stderr, selectors.EVENT_READ, (worker, "err"))

    def add_worker(self, first_frames: bytes) -> WorkerHandle | None:
        """One more worker, in place of a lost one, sent these frames first; None once the pool is closed.

        This process has opened the cache by now, so the new one is a fresh
        interpreter (or forked from the run's seed, worker_process.py).
        """
        if self._closed:
            return None
        [worker] = self._start(1, may_fork=False)
        self.send_frame(worker, first_frames)
        return worker

    @property
    def live_workers(self) -> list[WorkerHandle]:
        """The workers that may be given work."""
        return [worker for worker in self.workers if worker.alive and not worker.retired]

    def send(self, worker: WorkerHandle, message: Message) -> None:
        """Send a frame without waiting; a worker that cannot take it shows up later as Lost."""
        self.send_frame(worker, encode(message))

    def send_all(self, worker: WorkerHandle, messages: Sequence[Message]) -> None:
        """Several messages in one write: the worker wakes up once for them."""
        self.send_frame(worker, b"".join(encode(message) for message in messages))

    def send_frame(self, worker: WorkerHandle, frame: bytes) -> None:
        if worker.alive and worker.outbox is not None:
            worker.outbox.put(frame)
            self._watch_input(worker)

    def _watch_input(self, worker: WorkerHandle) -> None:
        """Have `poll` write the rest while the worker's pipe holds back part of a frame."""
        stdin = worker.process.stdin
        if worker.outbox is None or stdin is None or stdin.closed:
            return
        watched = stdin.fileno() in self._selector.get_map()
        if worker.outbox.pending and not watched:
            self._selector.register(stdin, selectors.EVENT_WRITE, (worker, "in"))
        elif not worker.outbox.pending and watched:
            self._unregister(stdin)

    def poll(self, timeout: float | None) -> list[Event]:
        """Wait for at least one event (at most `timeout` s), writing pending frames meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            events = self._poll_once(timeout)
            if events or (deadline is None and not self._selector.get_map()):
                return events
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return events

    def _poll_once(self, timeout: float | None) -> list[Event]:
        events: list[Event] = []
        for key, _ in self._selector.select(timeout):
            worker, stream = key.data
            if stream == "in":
                self._write_pending(worker)
                continue
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
        self._close_input(worker)
        return Lost(worker, problem or describe_exit(returncode))

    def _write_pending(self, worker: WorkerHandle) -> None:
        if worker.outbox is not None:
            worker.outbox.write()
            self._watch_input(worker)

    def _close_input(self, worker: WorkerHandle) -> None:
        if worker.outbox is not None:
            worker.outbox.drop()
        stdin = worker.process.stdin
        if stdin is not None and not stdin.closed:
            self._unregister(stdin)
            try:
                stdin.close()
            except OSError:
                pass

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
        """Stop every worker: ask, wait briefly, then kill; reap them all.  Once: later calls do nothing."""
        if self._closed:
            return
        for worker in self.workers:
            if worker.alive:
                self.send(worker, Shutdown())
        deadline = time.monotonic() + SHUTDOWN_GRACE
        self._finish_sending(deadline)
        for worker in self.workers:
            self._close_input(worker)
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
        self._closed = True

    def kill(self) -> None:
        """Stop every worker now (Ctrl-C, fatal errors); reap them all.  Nothing if already closed."""
        if self._closed:
            return
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.alive = False
            self._close_input(worker)
        self.close()

    def _finish_sending(self, deadline: float) -> None:
        """Write what is still pending to the workers that read it, until `deadline`."""
        with selectors.DefaultSelector() as writable:
            for worker in self.workers:
                stdin = worker.process.stdin
                if worker.alive and worker.outbox is not None and worker.outbox.pending and stdin is not None:
                    writable.register(stdin, selectors.EVENT_WRITE, worker)
            while writable.get_map() and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in writable.select(remaining):
                    outbox = key.data.outbox
                    outbox.write()
                    if not outbox.pending:
                        writable.unregister(key.fileobj)


class Outbox:
    """Frames for one pipe, written without ever blocking the writer.

    What the pipe cannot take at once stays here until `write` is called
    again (when the pipe has room).  Once a write fails otherwise (the
    reader is gone), everything is dropped: the reader's loss is reported
    on its own side.
    """

    def __init__(self, fd: int, room: int = PIPE_ROOM_BYTES) -> None:
        """`room`: the pipe's size to ask for, in bytes."""
        self.fd = fd
        self.unsent = bytearray()
        self.failed = False
        os.set_blocking(fd, False)
        resize_pipe(fd, room)

    @property
    def pending(self) -> bool:
        return bool(self.unsent)

    def put(self, frame: bytes) -> None:
        if self.failed:
            return
        was_empty = not self.unsent
        self.unsent += frame
        if was_empty:
            self.write()

    def write(self) -> None:
        """Write as much as the pipe takes now."""
        try:
            while self.unsent:
                written = os.write(self.fd, self.unsent)
                del self.unsent[:written]
        except BlockingIOError:
            pass
        except OSError:
            self.failed = True
            self.unsent.clear()

    def drop(self) -> None:
        self.failed = True
        self.unsent.clear()


def resize_pipe(fd: int, room: int) -> None:
    """Ask for a pipe of `room` bytes, where the system allows it; a smaller pipe only means more writes."""
    try:
        import fcntl
    except ImportError:  # Windows, where the pool is never started (cli.py)
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    try:
        fcntl.fcntl(fd, set_size, room)
    except OSError:
        pass


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"
