"""The progress line: drawn from events, erased before output, only on a terminal.

Unit tests drive `ProgressLine` with a fake clock; the end-to-end tests run
`mypy-split` with stderr on a pseudo-terminal (stdout a pipe) and require the
line to appear, to be erased at the end, and stdout to equal mypy's.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import shutil
import subprocess
from pathlib import Path

import pytest

from mypy_split.observe import Task
from mypy_split.progress import ProgressLine
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool

ERASE = "\r\x1b[K"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_line(width: int = 200) -> tuple[ProgressLine, io.StringIO, Clock]:
    stream = io.StringIO()
    clock = Clock()
    return ProgressLine(stream, clock, lambda: width), stream, clock


def last_drawn(stream: io.StringIO) -> str:
    return stream.getvalue().rsplit(ERASE, 1)[-1]


def test_counts_modules_sccs_and_workers() -> None:
    line, stream, clock = make_line()
    line.build_planned(modules=10, sccs=6, workers=4)
    clock.now += 1
    line.scc_fresh(1, modules=3)
    clock.now += 1
    line.task_started(Task(2, "interface", 0, 2))
    clock.now += 1
    line.task_started(Task(3, "whole", 1, 1))
    clock.now += 1
    line.task_finished(Task(2, "interface", 0, 2), ok=True)
    line.task_started(Task(2, "implementation", 0, 2))
    clock.now += 1
    assert line.text(clock.now) == "mypy-split: 3/10 modules, 2 SCCs in flight, 2/4 workers busy, 5.0s"
    line.task_finished(Task(2, "implementation", 0, 2), ok=True)
    line.task_finished(Task(3, "whole", 1, 1), ok=False)
    clock.now += 1
    line.task_started(Task(4, "interface", None, 1))
    assert last_drawn(stream) == "mypy-split: 5/10 modules, 1 SCCs in flight, 0/4 workers busy, 6.0s"


def test_in_process_has_no_worker_count() -> None:
    line, stream, clock = make_line()
    line.build_planned(modules=2, sccs=2, workers=0)
    assert last_drawn(stream) == "mypy-split: 0/2 modules, 0 SCCs in flight, 0.0s"


def test_redraws_are_rate_limited_and_cut_to_the_width() -> None:
    line, stream, clock = make_line(width=21)
    line.build_planned(modules=100, sccs=100, workers=2)
    for scc_id in range(50):
        line.scc_fresh(scc_id, 1)
    assert stream.getvalue().count(ERASE) == 1
    clock.now += 0.2
    line.scc_fresh(99, 1)
    assert stream.getvalue().count(ERASE) == 2
    assert last_drawn(stream) == "mypy-split: 51/100 m"


def test_erased_before_output_and_at_the_end() -> None:
    line, stream, clock = make_line()
    line.build_planned(modules=1, sccs=1, workers=0)
    line.before_output()
    assert stream.getvalue().endswith(ERASE)
    written = stream.getvalue()
    line.before_output()  # Nothing shown: nothing to erase.
    assert stream.getvalue() == written
    clock.now += 1
    line.task_started(Task(1, "whole", None, 1))
    line.build_finished()
    assert stream.getvalue().endswith("s" + ERASE)


# -- end to end ---------------------------------------------------------------

PROJECT = {
    "main.py": "from pkg import a\nx: int = a.f()\n",
    "pkg/__init__.py": "",
    "pkg/a.py": "from pkg import b\ndef f() -> str:\n    return b.g()\n",
    "pkg/b.py": "def g() -> int:\n    return 1\n",
}
_DRAWN = re.compile(r"\r\x1b\[K(mypy-split: \d+/\d+ modules, \d+ SCCs in flight(, \d+/\d+ workers busy)?, [\d.]+s)?")


def make_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def run_on_pty(args: list[str], project: Path, cache: Path) -> tuple[str, str, int]:
    """mypy-split with stderr on a pseudo-terminal: (stdout, what the terminal got, exit code)."""
    master, slave = pty.openpty()
    env = dict(os.environ, MYPY_CACHE_DIR=str(cache), PYTHONSAFEPATH="1", TERM="xterm")
    env.pop("MYPY_FORCE_COLOR", None)
    env.pop("MYPY_NUM_WORKERS", None)
    process = subprocess.Popen(
        [*MYPY_SPLIT, *args], cwd=project, env=env, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    terminal = bytearray()
    assert process.stdout is not None
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError("mypy-split wrote nothing to the terminal for 120 s")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer has closed the terminal.
            break
        if not chunk:
            break
        terminal.extend(chunk)
    stdout = process.stdout.read().decode()
    code = process.wait(timeout=60)
    os.close(master)
    return stdout, terminal.decode(), code


@pytest.mark.parametrize("workers", ["0", "2"])
def test_line_on_a_terminal_and_same_output(workers: str, tmp_path: Path, warm_cache: WarmCache) -> None:
    project = make_project(tmp_path)
    reference = run_tool(MYPY, ["main.py"], project, copy_cache(warm_cache, tmp_path, "mypy"), {})
    stdout, terminal, code = run_on_pty(["main.py", "-n", workers], project, copy_cache(warm_cache, tmp_path, "ours"))
    assert stdout == reference.stdout
    assert code == reference.returncode
    assert "mypy-split: " in terminal and "modules" in terminal, repr(terminal)
    # Nothing but drawn lines and erasures, and erased at the end.
    assert _DRAWN.sub("", terminal) == "", repr(terminal)
    assert terminal.endswith(ERASE), repr(terminal)
    if workers == "2":
        assert "workers busy" in terminal


def test_no_line_when_asked_or_without_a_terminal(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = make_project(tmp_path)
    stdout, terminal, code = run_on_pty(["main.py", "--no-progress"], project, copy_cache(warm_cache, tmp_path, "a"))
    assert terminal == "" and code == 1 and "Found 2 errors" in stdout, (stdout, terminal)
    # stderr a pipe, on a terminal type that could show it: still nothing.
    piped = run_tool(MYPY_SPLIT, ["main.py"], project, copy_cache(warm_cache, tmp_path, "b"), {"TERM": "xterm"})
    assert piped.stderr == "" and piped.returncode == 1, piped.describe()


def copy_cache(warm_cache: WarmCache, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"cache-{name}"
    shutil.copytree(warm_cache([]), target, symlinks=True)
    return target
