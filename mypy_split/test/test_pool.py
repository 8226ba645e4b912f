"""The pool's writes to a worker's pipe: never blocking, nothing lost or reordered (`pool.Outbox`).

Task frames normally fit in the room asked for each pipe; the whole run at
the end gives the pipes one page, so that most frames wait in the outbox and
go out from the coordinator's loop as the workers read.
"""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from mypy_split.pool import Outbox
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool
from mypy_split.test.test_sharing import (
    BESIDE,
    BESIDE_FLAGS,
    assert_cache_answers,
    fresh_cache,
    write_heavy_project,
)
from mypy_split.tuning import PIPE_ROOM_VARIABLE


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe; a write that blocks fails the test after a few seconds instead of hanging it."""

    def blocked(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("a write blocked")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(10)
    read_end, write_end = os.pipe()
    yield read_end, write_end
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


def pipe_capacity(fd: int) -> int:
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    return fcntl.fcntl(fd, get_size) if get_size is not None else 1 << 16


def read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def drain(outbox: Outbox, read_end: int) -> bytes:
    """Read while the outbox writes what it holds, as the pool's loop does when the pipe has room."""
    received = read_available(read_end)
    while outbox.pending:
        outbox.write()
        received += read_available(read_end)
    return received


def test_a_frame_that_fits_is_written_at_once(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    outbox = Outbox(write_end)
    outbox.put(b"first frame")
    assert not outbox.pending
    assert read_available(read_end) == b"first frame"


def test_what_the_pipe_cannot_take_waits_and_goes_out_in_order(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    outbox = Outbox(write_end)
    big = bytes(range(256)) * (pipe_capacity(write_end) // 256 + 4096)
    outbox.put(big)  # Must return although the reader has read nothing.
    assert outbox.pending
    outbox.put(b"second")
    assert drain(outbox, read_end) == big + b"second"


def test_a_frame_put_behind_pending_bytes_waits_its_turn(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    outbox = Outbox(write_end)
    filler = b"x" * (pipe_capacity(write_end) + 10)
    outbox.put(filler)
    first_read = read_available(read_end)
    outbox.put(b"after")  # The pipe has room now, but the filler's tail goes first.
    assert first_read + drain(outbox, read_end) == filler + b"after"


def test_a_gone_reader_drops_the_frames_without_raising(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    outbox = Outbox(write_end)
    outbox.put(b"nobody reads this")
    assert not outbox.pending and outbox.failed
    outbox.put(b"nor this")
    assert not outbox.pending


@pytest.mark.parametrize("workers", ["2", "3"])
def test_task_frames_bigger_than_the_pipe_reach_the_workers_whole(
    tmp_path: Path, warm_cache: WarmCache, workers: str
) -> None:
    """A shared cycle whose modules' trees (sent with the task) are far bigger than a one-page pipe."""
    project = write_heavy_project(tmp_path, BESIDE, heavy_lines=300)
    # The cycle's task carries its trees, bigger than the text: many pages.
    assert sum(len((project / f"ring/m{index}.py").read_bytes()) for index in range(6)) > 8 * 4096
    expected = run_tool(MYPY, BESIDE_FLAGS, project, fresh_cache(warm_cache, tmp_path / "mypy-cache"), {})
    assert expected.returncode == 1 and "u3.py" in expected.stdout, expected.describe()
    cache = fresh_cache(warm_cache, tmp_path / "split-cache")
    ours = run_tool(MYPY_SPLIT, [*BESIDE_FLAGS, "-n", workers], project, cache, {PIPE_ROOM_VARIABLE: "4096"})
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    assert_cache_answers(tmp_path, project, cache, expected, BESIDE_FLAGS)
