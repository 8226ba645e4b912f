"""Known differences from mypy, pinned: each one listed in README under "Known limits".

A test here passes when mypy-split prints mypy's answer or mypy's answer with
exactly the documented difference, and fails on anything else, so the list
cannot grow silently and a fix shows up as the pinned form disappearing.

Each difference here is one the engine makes by itself (in memory versus
loaded from the cache, as in `test_cache_vs_memory.py`) in a module that
`mypy_split/sensitive.py` does not flag, so a worker may load it from the
cache.  Each test confirms that the pinned form is what `mypy` itself prints
when only `main.py` changed since the cold run (so `base` comes from the
cache), which shows the difference is the engine's and not ours.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool

ATTEMPTS = 3


def check_pinned(
    tmp_path: Path, warm_cache: WarmCache, base: str, caller: str, cold: str, warm: str
) -> None:
    """mypy-split prints mypy's cold answer, or that answer with `cold` replaced by `warm`."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(base)
    (project / "main.py").write_text(caller)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert cold in reference.stdout, reference.describe()
    pinned = reference.stdout.replace(cold, warm, 1)

    # mypy on the same project after an edit to main.py alone (a trailing
    # comment, so no line moves): base comes from the cache, and mypy prints
    # the pinned form.
    edited = tmp_path / "edited"
    shutil.copytree(project, edited)
    with open(edited / "main.py", "a") as f:
        f.write("# edited\n")
    engine_warm = run_tool(MYPY, ["main.py"], edited, mypy_cache, {})
    assert engine_warm.stdout == pinned, engine_warm.describe()

    allowed: dict[str, RunResult] = {reference.stdout: reference, pinned: engine_warm}
    for attempt in range(ATTEMPTS):
        cache = tmp_path / f"split-{attempt}"
        shutil.copytree(warm_cache([]), cache)
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, cache, {})
        assert ours.stdout in allowed, ours.describe()
        expected = allowed[ours.stdout]
        assert ours.returncode == expected.returncode
        assert ours.stderr == expected.stderr
        if ours.stdout == pinned:
            break


def test_plain_function_bound_as_method_in_protocol_conflict(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    # Any function loaded from the cache keeps no argument list; bound as a
    # method of the caller's class, its printed signature loses `self`.
    # Flagging every module that defines a function would make every worker
    # check nearly every stale module again.
    check_pinned(
        tmp_path,
        warm_cache,
        "from typing import Any\n\ndef k(self: Any, x: int) -> int: return x\n",
        "from typing import Protocol\n"
        "from base import k\n"
        "class Q:\n"
        "    m = k\n"
        "class P(Protocol):\n"
        "    def m(self, x: str) -> int: ...\n"
        "def g(x: P) -> None: ...\n"
        "g(Q())\n",
        "main.py:8: note:         def k(self, x: int) -> int\n",
        "main.py:8: note:         def k(x: int) -> int\n",
    )
