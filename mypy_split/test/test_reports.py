"""Every `--*-report DIR` option: the files mypy-split writes equal `mypy -n 0`'s.

One small project (an import cycle inside a package, explicit and implicit
Any, imprecise and unreachable lines, errors with only-once notes, a module
with `ignore-errors`, two files of the same name in different packages) is
checked with every report option by `mypy`, then by `mypy-split` in-process
and with workers, each run in the same folder so absolute paths agree.  Each
report folder must hold the same files with the same bytes; only cobertura's
time stamp is set aside.  One run loses the worker of the import cycle after
its interface, so the coordinator checks that cycle itself.  Last, `mypy` without reports reads the cache each
tool left and must answer the same.  The XML-based reports need lxml, as in mypy; without it only
the text reports are compared.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

from mypy_split.build_worker.faults import MARKERS, STOP_BETWEEN_PHASES
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool

TEXT_REPORTS = ["linecount", "any-exprs", "lineprecision", "linecoverage"]
LXML_REPORTS = ["txt", "html", "xml", "cobertura-xml", "xslt-html", "xslt-txt"]

PROJECT = {
    "pkg/__init__.py": "from pkg.core import Engine\n",
    "pkg/core.py": """\
from typing import Any

from pkg import helpers


class Engine:
    def __init__(self, size: int) -> None:
        self.size = size
        self.cache: dict[str, Any] = {}

    def helper(self) -> "helpers.Helper":
        return helpers.Helper(self)

    def load(self, raw):
        return raw.strip()


def broken(x: int) -> str:
    return x
""",
    "pkg/helpers.py": """\
from typing import Any

import pkg.core


class Helper:
    def __init__(self, engine: "pkg.core.Engine") -> None:
        self.engine = engine

    def pair(self) -> list[Any]:
        return [self.engine, self.engine.size]


def narrow(value: int | str) -> int:
    if isinstance(value, int):
        return value
    elif isinstance(value, str):
        return len(value)
    else:
        return "unreachable"
""",
    "pkg/util.py": """\
def clamp(n: int, low: int = 0) -> int:
    # The larger of the two.
    return max(low, n)


def call(n: int) -> None:
    n()
""",
    "tools/__init__.py": "",
    "tools/util.py": """\
# mypy: ignore-errors
import json


def parse(text):
    return json.loads(text)


def typed(n: int) -> int:
    return n + "x"
""",
    "app.py": """\
import sys

from missing_library import thing  # type: ignore[import-not-found]
from pkg import Engine
from pkg.util import clamp
from tools.util import parse


def main(argv):
    engine = Engine(clamp(len(argv)))
    data = parse(argv[0])
    return engine.helper().pair(), data


total: int = main(sys.argv)
print(thing, total + "1", total())
""",
}

# Error code links are only-once notes: the cache must keep the first alone.
ARGS = ["--show-error-code-links", "app.py", "pkg", "tools"]
_TIMESTAMP = re.compile(rb'timestamp="\d+"')


def report_names() -> list[str]:
    return TEXT_REPORTS + (LXML_REPORTS if importlib.util.find_spec("lxml") else [])


def report_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, time stamps normalised."""
    return {
        str(path.relative_to(folder)): _TIMESTAMP.sub(b'timestamp="0"', path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run_with_reports(
    tool: list[str], extra: list[str], project: Path, cache: Path, keep: Path, env: dict[str, str]
) -> tuple[RunResult, dict[str, bytes]]:
    """One run writing every report under `project/reports`, then moved to `keep`."""
    args = [arg for name in report_names() for arg in (f"--{name}-report", f"reports/{name}")]
    result = run_tool(tool, [*args, *ARGS, *extra], project, cache, env)
    shutil.move(project / "reports", keep)
    return result, report_files(keep)


class WorkerKiller:
    """Kills, from a thread, the worker that stopped itself between the phases of a task.

    The worker is the stopped process whose environment names our markers
    folder (see `build_worker/faults.py`), so no other process is touched.
    """

    def __init__(self, markers: Path) -> None:
        self.tag = f"{MARKERS}={markers}".encode()
        self.killed = False
        self.deadline = time.monotonic() + 120
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.killed and time.monotonic() < self.deadline:
            for pid in self.stopped_workers():
                os.kill(pid, signal.SIGKILL)
                self.killed = True
            time.sleep(0.05)

    def stopped_workers(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                environ = (entry / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError):
                continue  # Gone meanwhile, or not ours to read.
            if state == "T" and self.tag in environ:
                found.append(int(entry.name))
        return found

    def done(self) -> bool:
        self.deadline = 0.0
        self.thread.join()
        return self.killed


def test_reports_equal_mypy_at_any_worker_count(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    # Reports make mypy read no cache, so every run checks everything cold.
    reference, expected = run_with_reports(
        MYPY, [], project, tmp_path / "c-mypy", tmp_path / "mypy", {}
    )
    assert reference.returncode == 1, reference.describe()
    # Every report wrote something, and the pages of every source file exist.
    assert {name.split("/")[0] for name in expected} == set(report_names()), sorted(expected)
    if "xml" in report_names():
        assert "xml/xml/pkg/helpers.py.xml" in expected, sorted(expected)
    markers = tmp_path / "markers"
    markers.mkdir()
    lose_worker = {STOP_BETWEEN_PHASES: "pkg.core", MARKERS: str(markers)}
    runs = [
        ("-n 0", ["-n", "0"], "c-n0", {}),
        ("-n 2", ["-n", "2"], "c-n2", {}),
        # The cache the previous run left is not read, and must not matter.
        # The cycle's worker is lost after its interface: the coordinator
        # checks the cycle itself, reporting into its own reporters.
        ("-n 2, a worker lost", ["-n", "2"], "c-n2", lose_worker),
        # A disabled cache: workers exchange interfaces through a private one.
        ("-n 3, no cache", ["-n", "3", "--cache-dir=/dev/null"], "unused", {}),
    ]
    for index, (label, extra, cache, env) in enumerate(runs):
        killer = WorkerKiller(markers) if env else None
        ours, files = run_with_reports(
            MYPY_SPLIT, extra, project, tmp_path / cache, tmp_path / f"split-{index}", env
        )
        if killer is not None:
            assert killer.done(), f"{label}: no worker stopped between phases"
        assert ours == reference, f"{label}\n=== mypy\n{reference.describe()}=== ours\n{ours.describe()}"
        assert sorted(files) == sorted(expected), label
        for name, content in expected.items():
            assert files[name] == content, f"{label}: {name} differs"
    # Reports make mypy read no cache but write one; a later run without
    # reports reads it, and must answer the same on either tool's.
    after_mypy = run_tool(MYPY, ARGS, project, tmp_path / "c-mypy", {})
    after_ours = run_tool(MYPY, ARGS, project, tmp_path / "c-n2", {})
    assert after_ours == after_mypy, f"=== on mypy's cache\n{after_mypy.describe()}=== on ours\n{after_ours.describe()}"
