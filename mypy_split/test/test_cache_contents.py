"""The cache entries mypy-split writes hold what mypy's own would, field by field.

The other tests judge a cache by its use: the next run's answer and which
SCCs it finds stale.  Some fields only matter on a later run of a particular
shape (the hash of a module's transitive imports decides whether the next run
checks that its indirect dependencies are still reachable), so here every
field of every module's meta and `meta_ex` is compared with what `mypy -n 0`
wrote for the same project, on a cold cache and after an interface edit.
Only time stamps are left out.  (`misc/corpora.py compare` does the same on real
code, where one kind of value differs by nature: README, "The cache it leaves".)
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, entry_differences, entry_fields, run_tool
from mypy_split.test.projects import generate, interface_edit

# The project's own entries: the standard library's come from the same warm cache.
PROJECT_PACKAGES = ("pkg", "app")


def write_edit(folder: Path, files: dict[str, str]) -> None:
    """Write edited files with a later time stamp, so that no run takes them for unchanged."""
    for name, text in files.items():
        target = folder / name
        later = target.stat().st_mtime + 2
        target.write_text(text, encoding="utf-8")
        os.utime(target, (later, later))


@pytest.mark.parametrize(
    ("workers", "flags"), [(2, []), (3, []), (2, ["--no-sqlite-cache"])], ids=["n2", "n3", "n2-file-store"]
)
def test_entries_equal_mypys(tmp_path: Path, warm_cache: WarmCache, workers: int, flags: list[str]) -> None:
    project = generate(31, modules=40, packages=3, cycles=5, missing=1)
    theirs, ours = tmp_path / "mypy", tmp_path / "split"
    shutil.copytree(warm_cache(flags), theirs, symlinks=True)
    shutil.copytree(warm_cache(flags), ours, symlinks=True)
    folder = project.write(tmp_path / "project")
    args = [*project.targets, *flags]
    for step in range(2):
        if step:
            write_edit(folder, interface_edit(project, random.Random(workers)))
        expected = run_tool(MYPY, args, folder, theirs, {})
        actual = run_tool(MYPY_SPLIT, [*args, "-n", str(workers)], folder, ours, {})
        assert (actual.stdout, actual.returncode) == (expected.stdout, expected.returncode), actual.describe()
        entries = entry_fields(theirs, PROJECT_PACKAGES)
        assert len(entries) >= 2 * len(project.files()), sorted(entries)
        found = entry_differences(entries, entry_fields(ours, PROJECT_PACKAGES))
        assert not found, f"step {step + 1}:\n" + "\n".join(found[:20])


# Ignore comments on import lines: mypy records only those on the first line
# importing each module (the second and third `from app.base import` lines are
# not), and those of a module loaded from the cache as its meta had them.
IGNORES_ON_IMPORTS = {
    "app/__init__.py": "",
    "app/base.py": "def one() -> int: ...\ndef two() -> int: ...\ndef three() -> int: ...\n",
    "app/main.py": (
        "from app.base import one\n"
        "from app.base import two  # type: ignore[deprecated]\n"
        "import app.gone  # type: ignore[import-not-found]\n"
        "from app.base import three  # type: ignore[attr-defined]\n"
        "x: int = one() + two() + three()\n"
    ),
    "app/user.py": "from app.main import x  # type: ignore[misc]\ny: str = x\n",
}


def test_ignores_on_import_lines(tmp_path: Path, warm_cache: WarmCache) -> None:
    theirs, ours = tmp_path / "mypy", tmp_path / "split"
    shutil.copytree(warm_cache([]), theirs, symlinks=True)
    shutil.copytree(warm_cache([]), ours, symlinks=True)
    folder = tmp_path / "project"
    for name, text in IGNORES_ON_IMPORTS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    for step in range(2):
        if step:
            # app.main turns stale through its dependency: loaded from the cache first.
            write_edit(folder, {"app/base.py": IGNORES_ON_IMPORTS["app/base.py"].replace("three() -> int", "three() -> str")})
        expected = run_tool(MYPY, ["-p", "app"], folder, theirs, {})
        actual = run_tool(MYPY_SPLIT, ["-p", "app", "-n", "2"], folder, ours, {})
        assert (actual.stdout, actual.returncode) == (expected.stdout, expected.returncode), actual.describe()
        entries = entry_fields(theirs, PROJECT_PACKAGES)
        (main,) = [fields for name, fields in entries.items() if name.endswith("/app/main.meta.ff")]
        assert main["imports_ignored"] == {3: ["import-not-found"]}, main
        found = entry_differences(entries, entry_fields(ours, PROJECT_PACKAGES))
        assert not found, f"step {step + 1}:\n" + "\n".join(found[:20])
