"""The worker's main loop: one message in, its work done, results out.

The coordinator talks to us over our inherited stdin and stdout.  Those two
descriptors are kept for frames only; anything else that writes to stdout
(a plugin's print, say) goes to stderr instead, so frames never get mixed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import BinaryIO

from mypy.errors import CompileError

from mypy_split.build_worker.head_start import check_ahead
from mypy_split.build_worker.session import CoordinatorGone, Receive, Send, WorkerSession
from mypy_split.framing import read_message, write_messages
from mypy_split.protocol import (
    HEAD_START_SCC,
    PROTOCOL_VERSION,
    CheckScc,
    GraphData,
    Hello,
    Message,
    Ready,
    Shutdown,
    TaskFailed,
)
from mypy_split.worker_process import name_this_process


def main() -> None:
    # Ctrl-C reaches the whole process group; the coordinator decides what
    # happens to us, so the signal must not turn into tracebacks here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The coordinator blocks these while it starts us; the mask is inherited.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    name_this_process()
    incoming, outgoing = claim_standard_streams()
    try:
        serve(incoming, outgoing)
    except BrokenPipeError:
        pass  # The coordinator is gone; nothing is left to tell it.
    sys.stderr.flush()
    os._exit(0)


def claim_standard_streams() -> tuple[BinaryIO, BinaryIO]:
    incoming = os.fdopen(os.dup(0), "rb", buffering=0)
    outgoing = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return incoming, outgoing


def serve(incoming: BinaryIO, outgoing: BinaryIO) -> None:
    # Results of a batch's tasks wait for its last task's (CheckScc.hold_results).
    held: list[Message] = []

    def send(*messages: Message) -> None:
        write_messages(outgoing, [*held, *messages])
        held.clear()

    def hold(*messages: Message) -> None:
        held.extend(messages)

    hello = read_message(incoming)
    if not isinstance(hello, Hello):
        return
    if hello.version != PROTOCOL_VERSION:
        send(Ready(PROTOCOL_VERSION, os.getpid(), [f"protocol version {hello.version} is not {PROTOCOL_VERSION}"]))
        return
    try:
        session = WorkerSession.start(hello)
    except CompileError as error:
        send(Ready(PROTOCOL_VERSION, os.getpid(), list(error.messages) or ["cannot start"]))
        return
    session.channel_fds = (incoming.fileno(), outgoing.fileno())
    send(Ready(PROTOCOL_VERSION, os.getpid(), ready_at=time.monotonic()))

    def receive() -> Message | None:
        return read_message(incoming)

    if hello.head_start and not guarded(HEAD_START_SCC, lambda: check_ahead(session, send, receive), send):
        return

    while True:
        message = read_message(incoming)
        if message is None or isinstance(message, Shutdown):
            return
        if isinstance(message, GraphData):
            session.load_graph(message)
        elif isinstance(message, CheckScc):
            # A shared task talks with the coordinator as it goes: never held.
            results = hold if message.hold_results and not message.shared else send
            if not run_task(session, message, results, send, receive):
                return


def run_task(session: WorkerSession, task: CheckScc, results: Send, send: Send, receive: Receive) -> bool:
    """Run one task, its results given to `results`; False if the coordinator is gone (or told us to stop) meanwhile.

    A failure goes out through `send`, at once, after any results held before it.
    """

    def check() -> bool:
        session.check(task, results, receive)
        return True

    return guarded(task.scc_id, check, send)


def guarded(scc_id: int, work: Callable[[], bool], send: Send) -> bool:
    """Do a task's work, a failure reported as the task's; False if this process must stop."""
    try:
        return work()
    except CoordinatorGone:
        return False
    except CompileError as error:
        send(TaskFailed(scc_id, blocker=True, lines=list(error.messages)))
    except (Exception, SystemExit):
        # The engine reports its own internal errors and then exits; here that
        # is a failed task, which the coordinator re-runs where mypy would crash.
        send(TaskFailed(scc_id, blocker=False, lines=traceback.format_exc().splitlines()))
    return True

