"""A worker's answer worded from a dependency's cached form is checked again in the coordinator.

By default a worker may load from the cache a stale dependency whose cached
form changes only the text of messages and whose memory form cannot all be
put back (`sensitive.py`: `MESSAGES`; `confirm.py`).  Such modules are rare
(`memory_form.py` puts back what the known kinds lose), so the tests stand
one in with a test setting: the modules' memory forms withheld.  Two such modules,
each checked on its own worker, are both imported by `main`: whichever worker
checks `main` loads one of them from the cache, so an answer of the kinds
that can differ is checked again in the coordinator, and one that cannot
differ is shown as the worker found it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import SLOW_BODIES, WITHHELD
from mypy_split.confirm import Budget, may_differ
from mypy_split.protocol import ErrorRecord
from mypy_split.test.cache_memory_cases import DATACLASS, NAMEDTUPLE
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, interface_rows, run_tool, stale_lines
from mypy_split.tuning import BATCH_VARIABLE, CONFIRM_VARIABLE, SEND_AHEAD_VARIABLE

CONFIRMED = "this process checks it again"

# One task per worker at a time, each base's bodies slow: the two bases are
# checked side by side, one on each worker.
SIDE_BY_SIDE = {BATCH_VARIABLE: "0", SEND_AHEAD_VARIABLE: "0", SLOW_BODIES: "0.3", WITHHELD: "users,points"}


def record(message: str, code: str | None, severity: str = "error") -> ErrorRecord:
    return ErrorRecord("main.py", 3, 0, 3, 0, severity, message, code)


@pytest.mark.parametrize(
    "message, code",
    [
        ('Unexpected keyword argument "nam" for "User"', "call-arg"),
        ('"User" defined in "base"', "call-arg"),
        ('Too many arguments for "_asdict" of "Point"', "call-arg"),
        ("    def to(self, x: int) -> int", "call-overload"),
        ('Revealed type is "def (x: builtins.int) -> base.Point"', "misc"),
        ('Invalid self argument "Config" to attribute function "loader"', "misc"),
    ],
)
def test_messages_whose_text_depends_on_a_dependency_form(message: str, code: str) -> None:
    assert may_differ(record(message, code))


@pytest.mark.parametrize(
    "message, code",
    [
        ('Incompatible types in assignment (expression has type "str", variable has type "int")', "assignment"),
        ('Name "undefined_name" is not defined', "name-defined"),
        ("Function is missing a return type annotation", "no-untyped-def"),
        ('Argument 1 to "f" has incompatible type "str"; expected "int"', "arg-type"),
    ],
)
def test_messages_that_read_the_same_both_ways(message: str, code: str) -> None:
    assert not may_differ(record(message, code))


def test_the_budget_is_seconds_or_a_share_of_the_stale_work() -> None:
    budget = Budget(0.25, 0.1)
    assert budget.take(0.2, stale_work=1.0)
    # 0.05 s left of the 0.25 s floor; a tenth of 4 s is more.
    assert not budget.take(0.1, stale_work=1.0)
    assert budget.take(0.1, stale_work=4.0)
    assert budget.left(4.0) == pytest.approx(0.1)
    off = Budget(0.0, 0.1)
    assert not off.take(0.0, stale_work=100.0)
    assert Budget(float("inf"), 0.1).take(1e6, stale_work=1.0)


def test_exact_mode_confirms_without_a_budget_unless_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIRM_VARIABLE, raising=False)
    assert Budget.from_environment(exact=True).take(1e6, stale_work=1.0)
    assert not Budget.from_environment(exact=False).take(1e6, stale_work=1.0)
    monkeypatch.setenv(CONFIRM_VARIABLE, "0")
    assert not Budget.from_environment(exact=True).take(0.0, stale_work=1.0)


def write_project(tmp_path: Path, main: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "users.py").write_text(DATACLASS)
    (project / "points.py").write_text(NAMEDTUPLE)
    (project / "main.py").write_text("from users import User\nfrom points import Point\n\n" + main)
    return project


def mypy_then_split(
    tmp_path: Path, warm_cache: WarmCache, project: Path, env: dict[str, str] | None = None
) -> tuple[RunResult, RunResult, Path]:
    """mypy's answer and mypy-split's at -n 2 (with its log), each on the standard library's cache."""
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    trace = tmp_path / "trace.json"
    args = ["main.py", "-n", "2", "-v", "--stats", "--trace", str(trace)]
    ours = run_tool(MYPY_SPLIT, args, project, cache, {**SIDE_BY_SIDE, **(env or {})})
    # The premise: the two bases were checked on two workers.
    assert interface_rows(trace, "users") != interface_rows(trace, "points"), ours.describe()
    return reference, ours, cache


def test_an_answer_that_can_differ_is_checked_again(tmp_path: Path, warm_cache: WarmCache) -> None:
    """mypy's cold wording (no `defined in` notes), and a cache in which mypy finds nothing stale."""
    project = write_project(tmp_path, "User(nam='x')\nPoint(y=1)\n")
    reference, ours, cache = mypy_then_split(tmp_path, warm_cache, project)
    assert "defined in" not in reference.stdout and reference.returncode == 1, reference.describe()
    assert (ours.stdout, ours.returncode) == (reference.stdout, reference.returncode), ours.describe()
    assert CONFIRMED in ours.stderr, ours.stderr[-4000:]
    assert "(1 SCCs)" in ours.stderr, ours.stderr[-4000:]
    assert "This process checks in memory again, before SCC" in ours.stderr, ours.stderr[-4000:]
    again = run_tool(MYPY, ["main.py", "-v"], project, cache, {})
    assert again.stdout == reference.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


@pytest.mark.parametrize("main", ["x: int = 'a'\n", "User(name='x')\nPoint(x=1)\n"], ids=["other-errors", "clean"])
def test_other_answers_stand(tmp_path: Path, warm_cache: WarmCache, main: str) -> None:
    """An answer without such messages is the worker's: nothing is checked twice."""
    project = write_project(tmp_path, main)
    reference, ours, _ = mypy_then_split(tmp_path, warm_cache, project)
    assert (ours.stdout, ours.returncode) == (reference.stdout, reference.returncode), ours.describe()
    assert CONFIRMED not in ours.stderr, ours.stderr[-4000:]
    assert "confirmed here 0.00 s (0 SCCs)" in ours.stderr, ours.stderr[-4000:]


def test_beyond_the_budget_the_worker_answer_stands(tmp_path: Path, warm_cache: WarmCache) -> None:
    """With confirmations off the worker's wording shows: one base came from the cache there."""
    project = write_project(tmp_path, "User(nam='x')\nPoint(y=1)\n")
    reference, ours, _ = mypy_then_split(tmp_path, warm_cache, project, {CONFIRM_VARIABLE: "0"})
    assert CONFIRMED not in ours.stderr and "shown as found" in ours.stderr, ours.stderr[-4000:]
    assert "defined in" in ours.stdout and ours.returncode == reference.returncode, ours.describe()
