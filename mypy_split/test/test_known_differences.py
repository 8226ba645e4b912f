"""Known differences from mypy, pinned: each one listed in README under "Known limits".

A test here passes when mypy-split prints mypy's answer or mypy's answer with
exactly the documented difference, and fails on anything else, so the list
cannot grow silently and a fix shows up as the pinned form disappearing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool

BASE = '''\
from dataclasses import dataclass

@dataclass
class User:
    name: str
'''
CALLER = '''\
from base import User

User(nam="x")
'''
# mypy omits this note while base.py's dataclass is in memory (cold run), and
# prints it when base is loaded from the cache (warm run): a worker that loads
# base from the cache, because another worker checked it, prints it cold too.
EXTRA_NOTE = 'main.py:3: note: "User" defined in "base"\n'


def test_dataclass_init_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(BASE)
    (project / "main.py").write_text(CALLER)
    for attempt in range(3):
        caches = [tmp_path / f"mypy-{attempt}", tmp_path / f"split-{attempt}"]
        for cache in caches:
            shutil.copytree(warm_cache([]), cache)
        reference = run_tool(MYPY, ["main.py"], project, caches[0], {})
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, caches[1], {})
        assert ours.returncode == reference.returncode
        assert ours.stderr == reference.stderr
        lines = reference.stdout.splitlines(keepends=True)
        pinned = "".join(lines[:1] + [EXTRA_NOTE] + lines[1:])
        assert ours.stdout in (reference.stdout, pinned), ours.stdout
