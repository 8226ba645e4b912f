"""`--soft-error-limit` with workers: the coordinator's count, in mypy's order.

Unit tests of the count (soft_limit.py) and of what a task reports
(entry_counts.py); then whole runs at `-n 2`, compared with mypy, in which
the forms are known to be used: the SCC where hiding begins checked again
here, the later ones shown in a worker's hidden form, every SCC checked here
when hiding began while the graph loaded.  `test-data/soft_limit.test`
compares many more projects at every worker count.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split.entry_counts import EntryCounts
from mypy_split.protocol import ErrorRecord, ImplementationDone, ProtocolError, decode, encode
from mypy_split.soft_limit import Form, SoftLimit
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, interface_rows, run_tool, stale_lines

CHECKED_HERE = "the soft error limit may begin to hide errors in it: checked here"
COORDINATOR_ROW = 0


def counts(entries: int, imports: bool = False, hideable: bool = True, once: list[str] | None = None) -> EntryCounts:
    return EntryCounts(entries=entries, imports=imports, hideable=hideable, once=once or [])


def test_nothing_is_hidden_before_an_import_error() -> None:
    limit = SoftLimit(limit=2, count=10, seen_import_error=False, hiding=False)
    assert limit.form(counts(5), set()) is Form.SHOWN
    limit.account(counts(5), set())
    assert limit.count == 15 and not limit.seen_import_error


def test_a_task_that_may_cross_the_limit_is_checked_here() -> None:
    limit = SoftLimit(limit=10, count=7, seen_import_error=True, hiding=False)
    # At most 7 + 3 - 1 = 9 entries before its last one: none hidden.
    assert limit.form(counts(3), set()) is Form.SHOWN
    # With a fourth, the last may be the tenth: where depends on the order.
    assert limit.form(counts(4), set()) is Form.CHECK_HERE
    # An import error within the task starts the limit there too.
    fresh = SoftLimit(limit=10, count=9, seen_import_error=False, hiding=False)
    assert fresh.form(counts(2, imports=True), set()) is Form.CHECK_HERE
    assert fresh.form(counts(2, imports=False), set()) is Form.SHOWN


def test_once_hiding_began_the_hidden_form_is_shown() -> None:
    limit = SoftLimit(limit=3, count=20, seen_import_error=True, hiding=True)
    assert limit.form(counts(4), set()) is Form.HIDDEN
    # Nothing the limit would hide: the same either way.
    assert limit.form(counts(4, hideable=False), set()) is Form.SHOWN
    # A result that was not counted can only be judged by checking it here.
    assert limit.form(None, set()) is Form.CHECK_HERE


def test_only_once_notes_given_before_are_not_counted_again() -> None:
    task = counts(5, once=["note A", "note B", "note A"])
    # "note A" repeats within the task's list (two processes shared it) and was given before.
    assert SoftLimit.added(task, {"note A"}) == 3
    assert SoftLimit.added(task, set()) == 4
    limit = SoftLimit(limit=100, count=0, seen_import_error=False, hiding=False)
    limit.account(task, {"note B"})
    assert limit.count == 3


def test_merged_counts_of_a_shared_scc() -> None:
    record = ErrorRecord("a.py", 1, 0, 1, 0, "error", "bad", "misc")
    owner = EntryCounts(3, False, False, ["x"], {})
    helper = EntryCounts(2, True, True, ["y"], {"a": [record]})
    merged = EntryCounts.merged([owner, helper])
    assert (merged.entries, merged.imports, merged.hideable, merged.once) == (5, True, True, ["x", "y"])
    assert merged.hidden_form == {"a": [record]}


def test_entry_counts_travel_with_the_result() -> None:
    record = ErrorRecord("a.py", 2, 4, 2, 9, "note", "(hidden?)", None, only_once=True)
    sent = ImplementationDone(7, {"a": [record]}, [], 0.5, entries=EntryCounts(4, True, True, ["n"], {"a": []}))
    assert decode(encode(sent)[4:]) == sent
    plain = ImplementationDone(7, {}, [], 0.5)
    assert decode(encode(plain)[4:]) == plain


@pytest.mark.parametrize(
    "value",
    [
        {"entries": -1, "imports": False, "hideable": False, "once": [], "hidden_form": {}},
        {"entries": 1, "imports": 0, "hideable": False, "once": [], "hidden_form": {}},
        {"entries": 1, "imports": False, "hideable": False, "once": [3], "hidden_form": {}},
        {"entries": 1, "imports": False, "hideable": False, "once": [], "hidden_form": {"a": [[1]]}},
        {"entries": 1, "imports": False, "hideable": False, "once": []},
    ],
)
def test_bad_entry_counts_are_rejected(value: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        EntryCounts.from_json(value)  # type: ignore[arg-type]


# Import errors in `base` and `second`; hiding begins in `base` (the first
# checked after the builtins), whose answer this process checks again; the
# later modules are checked on workers and shown in their hidden form.
LATER_MODULES = {
    "main.py": "import base\nimport first\nimport second\nimport third\nx: int = ''\n",
    "base.py": "import missing_base\nvalue: str = 1\ndef helper(n: int) -> str:\n    return n\n",
    "first.py": "import base\ndef one() -> int:\n    return base.helper('x')\nreveal_type(base.value)\n",
    "second.py": (
        "import first\nimport missing_second\ndef two(flag: bool) -> str:\n"
        "    if flag:\n        return first.one()\n    return 2\n"
    ),
    "third.py": (
        "import second\nfrom typing import List\ndef three(items: List[int]) -> None:\n"
        "    items.append('s')\n    second.two(1, 2)\n"
    ),
}


def both_tools(
    tmp_path: Path, warm_cache: WarmCache, files: dict[str, str], flags: list[str]
) -> tuple[RunResult, RunResult, Path, Path]:
    """mypy's answer and mypy-split's at -n 2 (log and trace), each on the standard library's cache."""
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py", *flags], project, mypy_cache, {})
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    trace = tmp_path / "trace.json"
    ours = run_tool(MYPY_SPLIT, ["main.py", *flags, "-n", "2", "-v", "--trace", str(trace)], project, cache, {})
    assert (ours.stdout, ours.returncode) == (reference.stdout, reference.returncode), ours.describe()
    return reference, ours, project, cache


def test_hiding_begins_in_one_scc_and_workers_hide_the_rest(tmp_path: Path, warm_cache: WarmCache) -> None:
    reference, ours, project, cache = both_tools(tmp_path, warm_cache, LATER_MODULES, ["--soft-error-limit", "4"])
    assert "(Skipping most remaining errors" in reference.stdout and "third.py" not in reference.stdout
    assert ours.stderr.count(CHECKED_HERE) == 1, ours.stderr[-4000:]
    # The modules after `base` were checked on workers: their answers are the hidden forms.
    for module in ("first", "second", "third"):
        rows = interface_rows(tmp_path / "trace.json", module)
        assert rows and COORDINATOR_ROW not in rows, (module, rows)
    # Their cached errors are those shown: mypy finds nothing stale and prints the same.
    again = run_tool(MYPY, ["main.py", "--soft-error-limit", "4", "-v"], project, cache, {})
    assert again.stdout == reference.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


def test_a_limit_not_reached_costs_no_check_here(tmp_path: Path, warm_cache: WarmCache) -> None:
    _, ours, _, _ = both_tools(tmp_path, warm_cache, LATER_MODULES, ["--soft-error-limit", "40"])
    assert CHECKED_HERE not in ours.stderr, ours.stderr[-4000:]
    assert COORDINATOR_ROW not in interface_rows(tmp_path / "trace.json", "third")


# The import error of `main` is recorded while the graph loads, then the
# parse of `lib` reports a bad `type: ignore` comment: past a limit of 2, that
# one is hidden before any SCC is checked.
HIDDEN_WHILE_LOADING = {
    "main.py": "import not_here\nimport lib\nimport other\nx: int = ''\n",
    "lib.py": "y = 1  # type: ignore[\nz: str = 1\n",
    "other.py": "import lib\ndef f() -> None:\n    w: int = ''\n",
}


@pytest.mark.parametrize("limit", ["0", "2"])
def test_hiding_from_the_graph_load_checks_everything_here(
    tmp_path: Path, warm_cache: WarmCache, limit: str
) -> None:
    """Workers would show the load's import errors as it recorded them, hidden ones included."""
    reference, _, _, _ = both_tools(tmp_path, warm_cache, HIDDEN_WHILE_LOADING, ["--soft-error-limit", limit])
    assert "lib.py:1: note: (Skipping most remaining errors" in reference.stdout, reference.describe()
    for module in ("lib", "other", "main"):
        assert interface_rows(tmp_path / "trace.json", module) == {COORDINATOR_ROW}, module
