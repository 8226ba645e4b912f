"""A shared SCC's bodies checked by forked copies of this worker, which repeat no interface.

After its interface phase the owner of an SCC holds the whole SCC in memory.
A child forked then holds the same (copy on write) and can check bodies at
once, where a helper worker would first repeat the interface: on textual's
141-module cycle that is 1.9 s of CPU and a second copy of the cycle's trees.
The coordinator asks for this (`Bodies.forks`) only for workers it keeps idle
meanwhile, so the children run on their CPUs.

The modules are dealt from a pipe filled before forking: each process reads
one 4-byte index at a time (a pipe read that small is atomic), costliest
module first.  Each child first takes one module of its own, so that every
process checks some bodies whatever the timing.  Children write nothing to
the cache and never talk to the coordinator: each sends its result back here
over a pipe of its own (an `ImplementationDone`, as a helper worker's), and
this process writes their `meta_ex` files.  The modules of a child that died
are checked here.  A child dies with this process (Linux), or notices that it
is gone before its next module.
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from mypy_split.build_worker import faults
from mypy_split.framing import FrameReader
from mypy_split.protocol import ImplementationDone, ProtocolError, encode

_INDEX = struct.Struct("<I")
# What a Linux pipe holds by default: the whole queue is written before any
# process reads it.
_QUEUE_BYTES = 65536
_PR_SET_PDEATHSIG = 1


class ForkedShare(NamedTuple):
    """What the owner checked itself (in the order it did), and each child's result."""

    checked_here: list[str]
    children: list[ImplementationDone]


def can_share(module_count: int, forks: int) -> bool:
    return forks > 0 and module_count > forks and (module_count - forks) * _INDEX.size <= _QUEUE_BYTES


def share_by_forking(
    module_ids: Sequence[str],
    forks: int,
    check_here: Callable[[str], None],
    check_in_child: Callable[[str], None],
    child_result: Callable[[list[str], float], ImplementationDone],
    inherited_fds: Sequence[int],
) -> ForkedShare:
    """Check the bodies of `module_ids` (costliest first) here and in `forks` children.

    `check_here` checks one module in this process, `check_in_child` in a
    child (writing nothing); `child_result` is a child's report of the
    modules it checked since it began (a `time.monotonic()`).
    `inherited_fds` are closed in each child (the coordinator's pipes: a
    child must not hold them open).
    """
    if not can_share(len(module_ids), forks):
        for module_id in module_ids:
            check_here(module_id)
        return ForkedShare(list(module_ids), [])
    queue_in, queue_out = os.pipe()
    write_fully(queue_out, b"".join(_INDEX.pack(index) for index in range(forks + 1, len(module_ids))))
    os.close(queue_out)
    children: list[tuple[int, int]] = []
    try:
        for child in range(forks):
            first = module_ids[child + 1]
            closed = [*inherited_fds, *(result for _, result in children)]
            started = fork_child(first, module_ids, queue_in, closed, check_in_child, child_result)
            if started is None:
                break  # No more processes now: the owner checks what the others leave.
            children.append(started)
        checked_here = [module_ids[0]]
        check_here(module_ids[0])
        for module_id in dealt(module_ids, queue_in):
            check_here(module_id)
            checked_here.append(module_id)
    except BaseException:
        for pid, result_in in children:
            os.kill(pid, signal.SIGKILL)
            collect(pid, result_in)
        raise
    finally:
        os.close(queue_in)
    results = [collect(pid, result_in) for pid, result_in in children]
    reported = [result for result in results if result is not None]
    done = set(checked_here).union(*(result.indirect for result in reported))
    for module_id in module_ids:
        if module_id not in done:
            # A child died with it: check it here.
            check_here(module_id)
            checked_here.append(module_id)
    return ForkedShare(checked_here, reported)


def dealt(module_ids: Sequence[str], queue_in: int) -> Iterator[str]:
    """Modules from the queue, one at a time as they are asked for, until it is empty."""
    while len(data := os.read(queue_in, _INDEX.size)) == _INDEX.size:
        yield module_ids[_INDEX.unpack(data)[0]]


def child_queue(module_ids: Sequence[str], queue_in: int, parent: int) -> Iterator[str]:
    """A child's modules from the queue; none once the owner is gone (its work is lost anyway)."""
    for module_id in dealt(module_ids, queue_in):
        if os.getppid() != parent:
            return
        yield module_id


def fork_child(
    first: str,
    module_ids: Sequence[str],
    queue_in: int,
    closed: Sequence[int],
    check_in_child: Callable[[str], None],
    child_result: Callable[[list[str], float], ImplementationDone],
) -> tuple[int, int] | None:
    """Start one child; its pid and the read end of its result pipe (None if it cannot start)."""
    result_in, result_out = os.pipe()
    parent = os.getpid()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(result_in)
        os.close(result_out)
        return None
    if pid == 0:
        code = 1
        began = time.monotonic()
        try:
            os.close(result_in)
            for fd in closed:
                os.close(fd)
            die_with(parent)
            # Collections must not walk the inherited heap: each page they touch
            # is copied.  Its garbage, if any, goes with this short-lived process.
            gc.freeze()
            faults.forked_child_started()
            checked = []
            for module_id in itertools.chain([first], child_queue(module_ids, queue_in, parent)):
                check_in_child(module_id)
                checked.append(module_id)
            write_fully(result_out, encode(child_result(checked, began)))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(result_out)
    return pid, result_in


def die_with(parent: int) -> None:
    """Have the kernel kill this child when the owner dies (Linux); elsewhere the queue checks."""
    if sys.platform == "linux":
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)  # Gone before the signal was set up.


def write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def collect(pid: int, result_in: int) -> ImplementationDone | None:
    """A child's result, once it has ended; None if it died without one."""
    chunks = []
    while chunk := os.read(result_in, 1 << 16):
        chunks.append(chunk)
    os.close(result_in)
    os.waitpid(pid, 0)
    reader = FrameReader()
    try:
        messages = reader.feed(b"".join(chunks))
    except ProtocolError:
        return None
    if reader.pending or len(messages) != 1 or not isinstance(messages[0], ImplementationDone):
        return None  # Cut short: the child died while writing.
    return messages[0]
