"""Known differences from mypy, pinned: each one listed in README under "Known limits".

What is left is the case of `cache_memory_cases.py` that
`mypy_split/sensitive.py` does not flag: no mode keeps its `base` in memory
or checks `main` again, so a worker may load `base` from the cache.  Every
flagged case prints mypy's cold answer in both modes
(`test_cache_vs_memory.py`).

A test here sends `main` to a worker that did not check `base` and passes
when mypy-split prints mypy's answer with exactly the documented difference,
and fails on anything else, so the list cannot grow silently and a fix shows
up as the pinned form disappearing.

Every difference here is one the engine makes by itself: some messages differ
depending on whether a dependency was checked in this process (in memory) or
loaded from the cache.  Each project has a module `base`, free of errors, and a
module `main` that imports it; `mypy main.py` on a cold cache checks both in
one process, while a worker that checks `main` may load `base` from the cache
because another worker checked it.  Each test also confirms that the pinned
form is what `mypy` itself prints when only `main.py` changed since the cold
run (so `base` comes from the cache), which shows the difference is the
engine's and not ours.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import AWAY_FROM_DEPENDENCIES
from mypy_split.test.cache_memory_cases import CASES, Case, mypy_forms
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY_SPLIT, run_tool



# Flagged cases print the cold answer (`test_cache_vs_memory.py`).
PINNED = [case for case in CASES if not case.flagged]


@pytest.mark.parametrize("case", PINNED, ids=lambda case: case.name)
def test_pinned(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    """With `main` on a worker that did not check `base`, mypy-split prints the case's cache form.

    Left to itself the coordinator may run both on one worker and print the
    cold answer; the test setting rules that out, so a fix shows up here.
    """
    forms = mypy_forms(tmp_path, warm_cache, case)
    # mypy_forms checked that mypy prints the pinned form with base cached.
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], forms.project, cache, {AWAY_FROM_DEPENDENCIES: "1"})
    assert (ours.stdout, ours.stderr, ours.returncode) == (
        forms.warm.stdout, forms.warm.stderr, forms.warm.returncode
    ), ours.describe()
