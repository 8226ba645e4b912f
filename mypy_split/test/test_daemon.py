"""`dmypy-split` against `dmypy`: the same answers to the same edits, and clean processes.

Each tool works on its own copy of a small project and runs the same
commands after the same edits (start, an edit revealing a TypedDict loaded
from the cache, body edit, interface edit breaking a dependent, syntax error,
module added, module deleted, all fixed, status, stop); stdout, stderr and exit code must match at every step, at `-n 0`, at
`-n 2` (a parallel build, then the program loaded from its cache) and at
`-n 2 --use-fine-grained-cache`, against plain `dmypy` (which ignores `-n`:
one run of it serves all three).  The operations test checks the daemon's
process hygiene by pid: after `stop`, `kill`, an outside SIGKILL and an idle
timeout nothing of it is left; a stale status file is replaced; socket and
status file are private; two clients at once are both answered.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mypy_split.daemon.status import alive, read_raw
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import RunResult

DMYPY = [sys.executable, "-m", "mypy.dmypy"]
DMYPY_SPLIT = [sys.executable, "-m", "mypy_split.daemon"]
_WORKTREE = str(Path(__file__).resolve().parents[2])

BASE = '''\
class User:
    def __init__(self, name: str) -> None:
        self.name = name

    def greet(self) -> str:
        return "hi " + self.name


def count(items: list[int]) -> int:
    return len(items)
'''
USE = '''\
from pkg.base import User, count


def hello(user: User) -> str:
    return user.greet()


total: int = count([1, 2])
label: str = 1
'''
MAIN = '''\
from pkg.use import hello
from pkg.base import User

print(hello(User("a")))
'''
EXTRA = '''\
def extra() -> int:
    return "no"
'''
# Keys out of sorted order: the engine's cache sorts them, a check in memory does not.
ROWS = '''\
from typing import TypedDict


class Row(TypedDict):
    name: str
    age: int
'''
ROW_IMPORT = "\nfrom pkg.rows import Row\n"
SHOW_ROW = '''

def show(row: Row) -> None:
    reveal_type(row)
'''

# (files to write, files to delete, command); None as a text deletes the file.
Step = tuple[dict[str, str], list[str], list[str]]


def steps(workers: int, flags: tuple[str, ...] = ()) -> list[Step]:
    run = ["run", "--", "-n", str(workers), *flags, "main.py", "pkg"]
    interface_and_body = BASE.replace("-> int:\n    return len", "-> str:\n    return str").replace(
        'return "hi " + self.name', "return 1"
    )
    fixed_use = USE.replace("label: str = 1", "label: str = ''")
    return [
        ({"pkg/__init__.py": "", "pkg/base.py": BASE + "limit: str = 1\n", "pkg/use.py": fixed_use + ROW_IMPORT, "pkg/rows.py": ROWS, "main.py": MAIN}, [], run),
        # A dependent checked again: a TypedDict from the cache shows its keys in source order.
        ({"pkg/use.py": fixed_use + ROW_IMPORT + SHOW_ROW}, [], ["recheck"]),
        # A body edit (and base's error fixed).
        ({"pkg/base.py": BASE.replace('"hi "', '"hello "')}, [], ["recheck"]),
        # An interface edit that breaks a dependent, with a new error in base's
        # own body: both files are new to the answer, the edited one comes first.
        ({"pkg/base.py": interface_and_body}, [], ["recheck"]),
        ({"pkg/use.py": USE}, [], ["recheck"]),
        # A syntax error blocks everything else, until it is fixed.
        ({"pkg/use.py": USE + "def broken(\n"}, [], ["recheck"]),
        ({"pkg/use.py": USE}, [], ["recheck"]),
        # A new module, imported.
        ({"pkg/extra.py": EXTRA, "main.py": MAIN + "from pkg.extra import extra\n"}, [], run),
        ({}, [], ["check", "main.py", "pkg"]),
        # The module deleted again: its importer breaks.
        ({}, ["pkg/extra.py"], run),
        # Everything fixed.
        ({"pkg/use.py": fixed_use, "pkg/base.py": BASE, "main.py": MAIN}, [], ["recheck"]),
        ({}, [], ["status"]),
        ({}, [], ["stop"]),
        ({}, [], ["status"]),
    ]


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MYPY_FORCE_COLOR", "MYPY_NUM_WORKERS", "XDG_RUNTIME_DIR"):
        env.pop(name, None)
    env.update({"MYPY_CACHE_DIR": str(cache), "TERM": "dumb", "PYTHONPATH": _WORKTREE})
    return env


def run(command: list[str], args: list[str], project: Path, env: dict[str, str]) -> RunResult:
    done = subprocess.run([*command, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    return RunResult(done.stdout, done.stderr, done.returncode)


def apply(project: Path, writes: dict[str, str], deletes: list[str], stamp: int) -> None:
    for name in deletes:
        (project / name).unlink()
    for name, text in writes.items():
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        # Later than any earlier version, whatever the clock's resolution.
        os.utime(target, (stamp, stamp))


def fine_grained_cache(tmp_path: Path, warm_cache: WarmCache, folder: str = "dmypy-split") -> Path:
    """A cache whose fine-grained part already holds typeshed (as on a warm start)."""
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache(["--cache-fine-grained"]), cache / folder, symlinks=True)
    return cache


@pytest.fixture(scope="module")
def dmypy_answers(tmp_path_factory: pytest.TempPathFactory) -> list[RunResult]:
    """dmypy's answer at each step (it ignores `-n`: one run serves both worker counts)."""
    project = tmp_path_factory.mktemp("dmypy") / "project"
    env = environment(project.parent / "cache")
    return run_steps(DMYPY, steps(2), project, env)


def run_steps(tool: list[str], all_steps: list[Step], project: Path, env: dict[str, str]) -> list[RunResult]:
    project.mkdir(exist_ok=True)
    stamp = int(time.time()) - 1000
    results = []
    try:
        for index, (writes, deletes, args) in enumerate(all_steps):
            apply(project, writes, deletes, stamp + 10 * index)
            results.append(run(tool, args, project, env))
    finally:
        run(tool, ["kill"], project, env)
    return results


# `--use-fine-grained-cache` makes the daemon load the project from a cache: it
# must still show the errors stored there (mypy's daemon answers "Success").
@pytest.mark.parametrize("workers, flags", [(0, ()), (2, ()), (2, ("--use-fine-grained-cache",))])
def test_same_answers_as_dmypy(
    workers: int, flags: tuple[str, ...], tmp_path: Path, warm_cache: WarmCache, dmypy_answers: list[RunResult]
) -> None:
    assert dmypy_answers[0].returncode == 1 and "pkg/base.py:11: error" in dmypy_answers[0].stdout
    all_steps = steps(workers, flags)
    folder = "." if flags else "dmypy-split"
    env = environment(fine_grained_cache(tmp_path, warm_cache, folder))
    ours = run_steps(DMYPY_SPLIT, all_steps, tmp_path / "project", env)
    for index, (expected, actual) in enumerate(zip(dmypy_answers, ours)):
        assert actual == expected, (
            f"step {index} ({' '.join(all_steps[index][2])}) at -n {workers}\n"
            f"=== dmypy\n{expected.describe()}=== dmypy-split\n{actual.describe()}"
        )


def daemon_pid(project: Path) -> int:
    pid = read_raw(str(project / ".dmypy-split.json"))["pid"]
    assert isinstance(pid, int)
    return pid


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not alive(pid) and not group_members(pid):
            return True
        time.sleep(0.05)
    return False


def group_members(pgid: int) -> list[int]:
    """Live processes in the daemon's process group (its workers, say)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and alive(int(entry)):
                    members.append(int(entry))
            except OSError:
                continue
    return members


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    apply(folder, {"pkg/__init__.py": "", "pkg/base.py": BASE, "pkg/use.py": USE, "main.py": MAIN}, [], int(time.time()) - 100)
    yield folder
    status = folder / ".dmypy-split.json"
    if status.exists():
        pid = read_raw(str(status)).get("pid")
        if isinstance(pid, int) and alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_operations(project: Path, tmp_path: Path, warm_cache: WarmCache) -> None:
    env = environment(fine_grained_cache(tmp_path, warm_cache))
    socket_parent = tmp_path / "runtime"
    socket_parent.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(socket_parent)
    start = ["start", "--", "-n", "2", "--follow-imports=error"]

    # A status file left by a dead daemon is replaced by `start`.
    dead = subprocess.Popen(["true"])
    dead.wait()
    (project / ".dmypy-split.json").write_text(f'{{"pid": {dead.pid}, "socket": "/nonexistent"}}\n')
    assert run(DMYPY_SPLIT, ["status"], project, env).stderr == "Daemon has died\n"
    assert run(DMYPY_SPLIT, start, project, env).stdout == "Daemon started\n"
    pid = daemon_pid(project)
    assert os.getpgid(pid) == pid
    status = os.stat(project / ".dmypy-split.json")
    assert status.st_mode & 0o077 == 0
    [folder] = list(socket_parent.iterdir())
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(folder / "daemon.sock").st_mode & 0o777 == 0o600

    # Two clients at once: both answered, alike.
    check = ["check", "main.py", "pkg/__init__.py", "pkg/base.py", "pkg/use.py"]
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: run(DMYPY_SPLIT, check, project, env), range(2))
    assert first == second
    assert first.returncode == 1 and "pkg/use.py:9: error" in first.stdout
    # --update with imports not followed: only the named file is looked at.
    apply(project, {"pkg/use.py": USE.replace("label: str = 1", "label: str = ''")}, [], int(time.time()))
    fixed = run(DMYPY_SPLIT, ["recheck", "--update", "pkg/use.py"], project, env)
    assert (fixed.stdout, fixed.returncode) == ("Success: no issues found in 4 source files\n", 0)

    # stop: the daemon, its socket folder and its status file are gone.
    assert run(DMYPY_SPLIT, ["stop"], project, env).stdout == "Daemon stopped\n"
    assert wait_gone(pid)
    assert not (project / ".dmypy-split.json").exists()
    assert not folder.exists()

    # kill: the same, with SIGKILL to the whole process group.
    assert run(DMYPY_SPLIT, start, project, env).returncode == 0
    pid = daemon_pid(project)
    assert run(DMYPY_SPLIT, ["kill"], project, env).stdout == "Daemon killed\n"
    assert wait_gone(pid)
    assert not (project / ".dmypy-split.json").exists()

    # Killed by someone else: the next start finds it dead and tidies up after it.
    assert run(DMYPY_SPLIT, start, project, env).returncode == 0
    os.kill(daemon_pid(project), signal.SIGKILL)
    assert wait_gone(daemon_pid(project))
    assert run(DMYPY_SPLIT, ["status"], project, env).stderr == "Daemon has died\n"

    # Idle past --timeout: the daemon exits by itself and tidies up.
    assert run(DMYPY_SPLIT, ["start", "--timeout", "1", *start[1:]], project, env).returncode == 0
    pid = daemon_pid(project)
    assert len(list(socket_parent.iterdir())) == 1
    assert wait_gone(pid, timeout=30)
    assert not (project / ".dmypy-split.json").exists()
    assert list(socket_parent.iterdir()) == []


def test_stored_lines_go_where_a_recheck_would_put_them() -> None:
    """Known files keep their places; new ones: the last edited, its importers, the rest by name."""
    from mypy_split.daemon.seeds import merge

    def line(file: str) -> str:
        return f"{file}:1: error: E"

    module_of_file = {f"{m}.py": m for m in "abcde"}
    # b was edited last and a imports it; c, d and e are other modules with errors.
    messages = [line("d.py"), line("a.py"), line("e.py"), line("b.py")]
    stored = {"c": [line("c.py")]}
    merged = merge(messages, stored, [line("e.py")], "b", lambda: {"a"}, lambda: module_of_file)
    assert merged == [line(f"{m}.py") for m in "ebacd"]

    def whole_program() -> dict[str, str]:
        raise AssertionError("one new file needs no walk of the program")

    # A single new file goes after the known ones, without walking the program.
    merged = merge([line("b.py"), line("e.py")], {}, [line("e.py")], "b", whole_program, whole_program)
    assert merged == [line("e.py"), line("b.py")]


def test_explicit_changes() -> None:
    from mypy.modulefinder import BuildSource

    from mypy_split.daemon.changes import explicit_changes

    previous = [BuildSource("a.py", "a"), BuildSource("b.py", "b"), BuildSource("pkg/m.py", "m")]
    sources = [BuildSource("a.py", "a"), BuildSource("c.py", "c"), BuildSource("pkg/m.py", "pkg.m")]
    changed, removed = explicit_changes(sources, previous, {"a.py"})
    # Edited, new, and renamed by a new __init__.py (which also leaves under its old name).
    assert changed == [("a", "a.py"), ("c", "c.py"), ("pkg.m", "pkg/m.py")]
    assert removed == [("b", "b.py"), ("m", "pkg/m.py")]


def test_typeddict_key_orders_read_from_source(tmp_path: Path) -> None:
    """Only the plain forms are read, and only from the text the cache describes."""
    from mypy.util import hash_digest

    from mypy_split.daemon.typeddicts import source_orders

    source = b'''\
import typing
from typing import TypedDict

class Plain(TypedDict, total=False):
    """Doc."""
    name: str
    age: int

class Outer:
    class Inner(typing.TypedDict):
        b: int
        a: int

Point = TypedDict("Point", {
    "y": int,
    "x": int,
})

def local() -> None:
    class Hidden(TypedDict):  # the engine names it Hidden@<line>: not read
        b: int
        a: int

class Derived(Plain):  # keys from a base: its order is the engine's rule, not read
    zip: str

class WithMethod(TypedDict):  # not a valid TypedDict body
    k: int
    def m(self) -> None: ...

if typing.TYPE_CHECKING:
    class Twice(TypedDict):
        b: int
else:
    class Twice(TypedDict):
        a: int
'''
    path = tmp_path / "m.py"
    path.write_bytes(source)
    assert source_orders(str(path), hash_digest(source)) == {
        "Plain": ["name", "age"],
        "Outer.Inner": ["b", "a"],
        "Point": ["y", "x"],
    }
    # The file is no longer the cached text: nothing is read from it.
    assert source_orders(str(path), hash_digest(b"older text")) is None


def test_warm_up_loads_every_tree_before_any_dependency_map(
    tmp_path: Path, warm_cache: WarmCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit needs the trees; only an interface edit reads the maps, which the engine can load itself."""
    from mypy.modulefinder import BuildSource
    from mypy.util import FancyFormatter

    from mypy_split.daemon.options import start_options
    from mypy_split.daemon.session import Session

    cache = fine_grained_cache(tmp_path, warm_cache)
    project = tmp_path / "project"
    apply(project, {"main.py": "x: int = 1\n"}, [], int(time.time()) - 100)
    monkeypatch.chdir(project)
    # A parallel first check, then the program loaded from the cache it wrote.
    start = start_options(["-n", "2", "--cache-dir", str(cache), "main.py"])
    session = Session(start, FancyFormatter(sys.stdout, sys.stderr, False))
    session.check([BuildSource("main.py", "main")], False, False, 80)
    assert session.fine_grained is not None and session.loaded_from_cache
    graph, manager = session.fine_grained.graph, session.fine_grained.manager
    maps_before = {m for m, state in graph.items() if state.fine_grained_deps_loaded}
    assert len(graph) - len(manager.modules) > 10, "typeshed should still be on disk"
    steps_taken = 0
    while session.warm_up():
        steps_taken += 1
        maps_now = {m for m, state in graph.items() if state.fine_grained_deps_loaded}
        if session.unread_sources or session.cold_modules:
            assert maps_now == maps_before, "a dependency map was loaded before the last tree"
    assert steps_taken > 0
    assert set(manager.modules) == set(graph)
    assert all(state.fine_grained_deps_loaded for state in graph.values())


def test_an_update_before_the_warm_up_sees_typeddicts_in_source_order(
    tmp_path: Path, warm_cache: WarmCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dependent the update checks whole keeps its TypedDict's key order: its own users stay untouched."""
    from mypy.modulefinder import BuildSource
    from mypy.util import FancyFormatter

    from mypy_split.daemon.options import start_options
    from mypy_split.daemon.session import Session

    cache = fine_grained_cache(tmp_path, warm_cache)
    project = tmp_path / "project"
    files = {
        "a.py": "def f() -> int:\n    return 1\n",
        # Keys out of sorted order: the cache stores them sorted.
        "b.py": "from typing import TypedDict\nfrom a import f\n\n\nclass TD(TypedDict):\n"
        "    z: int\n    y: int\n\n\ndef g() -> object:\n    return f()\n",
        "c.py": "from b import TD\n\n\ndef h(t: TD) -> int:\n    return t['z']\n",
    }
    stamp = int(time.time()) - 100
    apply(project, files, [], stamp)
    monkeypatch.chdir(project)
    start = start_options(["-n", "2", "--cache-dir", str(cache), "a.py", "b.py", "c.py"])
    session = Session(start, FancyFormatter(sys.stdout, sys.stderr, False))
    sources = [BuildSource(f"{m}.py", m) for m in "abc"]
    assert session.check(list(sources), False, False, 80)["status"] == 0
    assert session.fine_grained is not None and session.loaded_from_cache
    # The edit comes before the warm-up has read any source or loaded any tree.
    assert session.unread_sources and "b" not in session.fine_grained.manager.modules
    apply(project, {"a.py": "def f() -> str:\n    return ''\n"}, [], stamp + 10)
    reply = session.check(list(sources), False, False, 80)
    assert reply["status"] == 0, reply
    assert sorted(session.fine_grained.updated_modules) == ["a", "b"]
