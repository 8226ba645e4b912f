"""`--soft-error-limit` with workers: the coordinator's count, in mypy's order.

Unit tests of the count (soft_limit.py) and of what a task reports
(entry_counts.py); then whole runs at `-n 2`, compared with mypy, in which
each path is known to be taken: hiding that begins in one SCC and goes on in
the later ones, all shown in forms the workers sent; a module with more
hideable entries than forms are sent for, checked again here; every SCC
checked here when hiding began while the graph loaded.
`test-data/soft_limit.test` compares many more projects at every worker count.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mypy_split.build_worker.entry_log import MOST_SPLIT_ENTRIES
from mypy_split.entry_counts import TASK, Entry, EntryCounts
from mypy_split.protocol import ErrorRecord, ImplementationDone, ProtocolError, decode, encode
from mypy_split.soft_limit import SoftLimit
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, interface_rows, run_tool, stale_lines

CHECKED_HERE = "the soft error limit needs a form the worker did not send: checked here"
COORDINATOR_ROW = 0


def record(line: int, message: str = "bad") -> ErrorRecord:
    return ErrorRecord("a.py", line, 0, line, 0, "error", message, "misc")


def entries(*specs: str, module: str = "a") -> list[Entry]:
    """`h`: an entry the limit would hide, `i`: an import error, `n`: another note or error."""
    return [Entry(module, spec == "h", spec == "i") for spec in specs]


def task(*specs: str) -> EntryCounts:
    return EntryCounts(slots=[(TASK, entries(*specs))])


def never(order: list[str]) -> Callable[[], list[str]]:
    return lambda: order


def test_nothing_is_hidden_before_an_import_error() -> None:
    limit = SoftLimit(limit=2, count=10, seen_import_error=False, hiding=False, note="N")
    placement = limit.place(task("h", "h", "n"), set(), never([]))
    assert placement is not None and placement.forms == {}
    limit.adopt(placement)
    assert (limit.count, limit.seen_import_error, limit.hiding) == (13, False, False)


def test_hiding_begins_within_a_task_at_the_entry_the_count_reaches() -> None:
    # 7 entries before; the import error makes the 8th; the limit is 10.
    counts = task("i", "h", "h", "h", "h")
    first_two_shown = [record(1)]
    counts.split_forms = {"a": {(2, True): first_two_shown}}
    limit = SoftLimit(limit=10, count=7, seen_import_error=False, hiding=False, note="N")
    placement = limit.place(counts, set(), never([]))
    # Entries 9 and 10 are shown (8 and 9 before them), the 11th is hidden, with the note.
    assert placement is not None and placement.forms == {"a": first_two_shown}
    assert (placement.count, placement.hiding, "N" in placement.once) == (13, True, True)
    # Without that form, only a check here can tell.
    counts.split_forms = {}
    assert limit.place(counts, set(), never([])) is None


def test_once_hiding_began_every_hideable_entry_is_hidden() -> None:
    counts = task("h", "n", "h")
    counts.hidden_form = {"a": [record(3)]}
    limit = SoftLimit(limit=3, count=20, seen_import_error=True, hiding=True, note="N")
    placement = limit.place(counts, set(), never([]))
    assert placement is not None and placement.forms == {"a": [record(3)]}
    assert placement.count == 23 and "N" not in placement.once


def test_only_once_notes_given_before_are_not_counted_again() -> None:
    counts = EntryCounts(slots=[(TASK, [Entry("a", False, False, "note A"), Entry("a", False, False, "note B")])])
    limit = SoftLimit(limit=100, count=0, seen_import_error=False, hiding=False, note="N")
    placement = limit.place(counts, {"note A"}, never([]))
    assert placement is not None and placement.count == 1 and placement.once == {"note A", "note B"}


def test_a_shared_scc_counts_in_mypy_order() -> None:
    """The owner's interface first, then each module's bodies in the SCC's order, whoever checked them."""
    interface = (TASK, entries("i") + entries("h", module="b"))
    body_a = ("a", entries("h", "h"))
    body_b = ("b", entries("h", module="b"))
    counts = EntryCounts(slots=[body_b, interface, body_a])
    counts.split_forms = {"a": {(1, True): [record(1)]}, "b": {(1, False): [record(2)]}}
    counts.hidden_form = {"a": [], "b": []}
    limit = SoftLimit(limit=3, count=0, seen_import_error=False, hiding=False, note="N")
    placement = limit.place(counts, set(), never(["a", "b"]))
    # i, b's top and a's first body are shown (0, 1, 2 before them); a's second body is hidden
    # with the note, then b's body (its second hideable entry).
    assert placement is not None
    assert placement.forms == {"a": [record(1)], "b": [record(2)]}
    # Bodies that add entries to another module's file: that file's forms are not the right ones.
    counts.slots[2] = ("a", entries("h") + entries("h", module="b"))
    assert limit.place(counts, set(), never(["a", "b"])) is None


def test_entry_counts_travel_with_the_result() -> None:
    note = ErrorRecord("a.py", 2, 4, 2, 9, "note", "(hidden?)", None, only_once=True)
    counts = EntryCounts(
        slots=[(TASK, [Entry("a", True, False), Entry("", False, True, "once")]), ("a", [])],
        hidden_form={"a": []},
        split_forms={"a": {(1, True): [note], (2, False): []}},
    )
    sent = ImplementationDone(7, {"a": [note]}, [], 0.5, entries=counts)
    assert decode(encode(sent)[4:]) == sent
    plain = ImplementationDone(7, {}, [], 0.5)
    assert decode(encode(plain)[4:]) == plain


@pytest.mark.parametrize(
    "value",
    [
        {"slots": [["", [["a", 4, None]]]], "hidden_form": {}, "split_forms": {}},
        {"slots": [["", [["a", 1]]]], "hidden_form": {}, "split_forms": {}},
        {"slots": [["", [["a", 1, 3]]]], "hidden_form": {}, "split_forms": {}},
        {"slots": [[""]], "hidden_form": {}, "split_forms": {}},
        {"slots": [], "hidden_form": {"a": [[1]]}, "split_forms": {}},
        {"slots": [], "hidden_form": {}, "split_forms": {"a": [[-1, True, []]]}},
        {"slots": [], "hidden_form": {}, "split_forms": {"a": [[1, 1, []]]}},
        {"slots": [], "hidden_form": {}},
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
    # No task failed on a worker (this process would have checked it instead).
    assert "failed on SCC" not in ours.stderr, ours.stderr[-4000:]
    return reference, ours, project, cache


def test_hiding_begins_in_one_scc_and_workers_hide_the_rest(tmp_path: Path, warm_cache: WarmCache) -> None:
    reference, ours, project, cache = both_tools(tmp_path, warm_cache, LATER_MODULES, ["--soft-error-limit", "4"])
    assert "(Skipping most remaining errors" in reference.stdout and "third.py" not in reference.stdout
    # Every answer was shown in a form its worker sent: none was checked here.
    assert CHECKED_HERE not in ours.stderr, ours.stderr[-4000:]
    for module in ("base", "first", "second", "third"):
        rows = interface_rows(tmp_path / "trace.json", module)
        assert rows and COORDINATOR_ROW not in rows, (module, rows)
    # Their cached errors are those shown: mypy finds nothing stale and prints the same.
    again = run_tool(MYPY, ["main.py", "--soft-error-limit", "4", "-v"], project, cache, {})
    assert again.stdout == reference.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


# Nested loops: the engine adds one error object several times.
SAME_ERROR_AGAIN = {
    "main.py": (
        "import not_here\ndef takes(x: int) -> int: ...\ndef f(n: int) -> None:\n    total = [1]\n"
        "    for a in range(n):\n        for b in range(n):\n            if (c := a) is not None:\n"
        "                total[a] = max(takes('x') + c, 1)\nx: int = ''\ny: int = ''\n"
    ),
}


@pytest.mark.parametrize("limit", ["6", "7", "8"])
def test_an_error_added_again_counts_each_time(tmp_path: Path, warm_cache: WarmCache, limit: str) -> None:
    reference, ours, _, _ = both_tools(tmp_path, warm_cache, SAME_ERROR_AGAIN, ["--soft-error-limit", limit])
    assert "Skipping most remaining errors" in reference.stdout, reference.describe()
    assert CHECKED_HERE not in ours.stderr, ours.stderr[-4000:]
    assert COORDINATOR_ROW not in interface_rows(tmp_path / "trace.json", "main")


def test_a_module_with_too_many_forms_is_checked_here(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Hiding begins in the middle of more hideable entries than forms are listed for."""
    many = "".join(f"v{i}: int = ''\n" for i in range(MOST_SPLIT_ENTRIES + 8))
    files = {"main.py": "import not_here\nimport big\n", "big.py": many}
    reference, ours, project, cache = both_tools(tmp_path, warm_cache, files, ["--soft-error-limit", "12"])
    assert "big.py:11: note: (Skipping most remaining errors" in reference.stdout, reference.describe()
    assert ours.stderr.count(CHECKED_HERE) == 1, ours.stderr[-4000:]
    again = run_tool(MYPY, ["main.py", "--soft-error-limit", "12", "-v"], project, cache, {})
    assert again.stdout == reference.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


def test_a_limit_not_reached_hides_nothing(tmp_path: Path, warm_cache: WarmCache) -> None:
    reference, ours, _, _ = both_tools(tmp_path, warm_cache, LATER_MODULES, ["--soft-error-limit", "40"])
    assert "Skipping" not in reference.stdout and CHECKED_HERE not in ours.stderr, ours.stderr[-4000:]
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
