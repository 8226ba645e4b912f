"""Modules that the engine sees differently in memory and from the cache: mypy's answer at any -n.

Each case of `cache_memory_cases.py` has a module `base`, free of errors, and
a module `main` that imports it; `mypy main.py` on a cold cache checks both
in one process.  At `-n 2` and `-n 3` a test setting sends `main` to a
worker that did not check `base` (`MYPY_SPLIT_TEST_AWAY_FROM_DEPENDENCIES`;
left to itself the coordinator runs both on one worker), and mypy-split must
print mypy's cold answer for every case, in three ways:

- by default, the worker loads `base` from the cache and puts back what the
  cache lost (`mypy_split/memory_form.py`), except for the cases flagged
  `BINDING`, which it keeps in memory (`mypy_split/affinity.py`);
- with `base`'s memory form withheld (`MYPY_SPLIT_TEST_WITHHELD`, as if it
  could not be written down: `base` is then flagged `MESSAGES`), exact mode
  keeps `base` in memory wherever `main` is checked;
- with it withheld in the default mode, the coordinator checks `main` again,
  `base` in memory, when the answer has messages that can differ
  (`mypy_split/confirm.py`).

Each test also confirms that mypy itself prints another answer (the case's
cache form) when only `main.py` changed since the cold run, so `base` comes
from the cache: the case does exercise a difference of the engine's.  In a
few cases, mypy then finds mypy-split's cache fresh and prints the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split.affinity import AFFINITY_VARIABLE
from mypy_split.build_worker.faults import AWAY_FROM_DEPENDENCIES, CRASH_ON, MARKERS, WITHHELD
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.tuning import POOL_WORTH_VARIABLE, REPLACEMENTS_VARIABLE
from mypy_split.test.cache_memory_cases import CASES, DATACLASS, NAMEDTUPLE, Case, MypyForms, mypy_forms
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, interface_rows, run_tool, stale_lines
from mypy_split.test.test_sharing import run_killing_between_phases

# The exact mode this file is about (off by default, see README "Known limits").
EXACT = {AFFINITY_VARIABLE: "1"}
AWAY_FROM_BASE = {AWAY_FROM_DEPENDENCIES: "1"}
# `base`'s argument lists and definition links not written down: kept in memory instead.
WITHHELD_BASE = {WITHHELD: "base"}

WORKER_COUNTS = ("2", "3")

FLAGGED = list(CASES)
BINDING = [case for case in CASES if case.binding]


def assert_same_answer(ours: RunResult, reference: RunResult, label: str = "") -> None:
    """mypy-split's stdout, stderr and exit code are mypy's."""
    assert (ours.stdout, ours.stderr, ours.returncode) == (
        reference.stdout, reference.stderr, reference.returncode
    ), label + ours.describe()


def check_main_at_worker_counts(
    tmp_path: Path,
    warm_cache: WarmCache,
    project: Path,
    reference: RunResult,
    mode: dict[str, str] = EXACT,
    bases: tuple[str, ...] = ("base",),
) -> Path:
    """mypy-split (in exact mode, unless told) checks `main.py` as mypy did at each worker count.

    `main` goes to a worker that did not check one of its `bases` at least
    (left to itself, the coordinator would run `base` and `main` on one
    worker, one after the other), which the trace shows.  Each run starts from the standard library's cache; the
    last one's cache is returned.
    """
    for workers in WORKER_COUNTS:
        cache = tmp_path / f"split-{workers}"
        shutil.copytree(warm_cache([]), cache)
        trace = tmp_path / f"trace-{workers}.json"
        args = ["main.py", "-n", workers, "--trace", str(trace)]
        ours = run_tool(MYPY_SPLIT, args, project, cache, {**AWAY_FROM_BASE, **mode})
        assert_same_answer(ours, reference, f"-n {workers}: ")
        main_rows = interface_rows(trace, "main")
        apart = [base for base in bases if interface_rows(trace, base) - main_rows]
        assert main_rows and apart, f"-n {workers}: main checked beside {', '.join(bases)}"
    return tmp_path / f"split-{WORKER_COUNTS[-1]}"


@pytest.mark.parametrize("case", FLAGGED, ids=lambda case: case.name)
def test_cold_answer(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    """Exact mode, `base`'s memory form withheld: `base` kept in memory where `main` is checked.

    With the case's `cross_check`, mypy then finds mypy-split's cache fresh.
    """
    forms = mypy_forms(tmp_path, warm_cache, case)
    cache = check_main_at_worker_counts(
        tmp_path, warm_cache, forms.project, forms.cold, mode={**EXACT, **WITHHELD_BASE}
    )
    if not case.cross_check:
        return
    # Checking again in memory wrote nothing: the cache is mypy's.
    again = run_tool(MYPY, ["main.py", "-v"], forms.project, cache, {})
    assert again.stdout == forms.cold.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


@pytest.mark.parametrize("case", FLAGGED, ids=lambda case: case.name)
def test_cold_answer_by_default(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    """The default mode: `base` loaded from the cache, its memory form put back (or kept in memory: `BINDING`).

    The cache left behind is fresh for mypy, with mypy's answer in it.
    """
    forms = mypy_forms(tmp_path, warm_cache, case)
    cache = check_main_at_worker_counts(tmp_path, warm_cache, forms.project, forms.cold, mode={})
    again = run_tool(MYPY, ["main.py", "-v"], forms.project, cache, {})
    assert again.stdout == forms.cold.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


# One case of each kind of message that confirmations must catch: a note
# gained from the cache, one lost, a signature spelled out, overload variants.
CONFIRMED = [
    case for case in FLAGGED
    if case.name in (
        "dataclass_init_defined_in_note", "function_alias_defined_in_note",
        "plain_function_bound_as_method_in_protocol_conflict", "overload_variants_called_on_class",
    )
]


@pytest.mark.parametrize("case", CONFIRMED, ids=lambda case: case.name)
def test_cold_answer_confirmed(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    """The default mode, `base`'s memory form withheld: `main`'s answer checked again here, `base` in memory."""
    assert len(CONFIRMED) == 4
    forms = mypy_forms(tmp_path, warm_cache, case)
    cache = check_main_at_worker_counts(
        tmp_path, warm_cache, forms.project, forms.cold, mode={**WITHHELD_BASE, "MYPY_SPLIT_CONFIRM": "inf"}
    )
    again = run_tool(MYPY, ["main.py", "-v"], forms.project, cache, {})
    assert again.stdout == forms.cold.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


def test_needs_split_over_workers(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Two flagged modules (memory forms withheld), checked side by side on two workers, both needed by main."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "users.py").write_text(DATACLASS)
    (project / "points.py").write_text(NAMEDTUPLE)
    (project / "main.py").write_text(
        "from users import User\nfrom points import Point\n\nUser(nam='x')\nPoint(y=1)\n"
    )
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert "defined in" not in reference.stdout and reference.returncode == 1, reference.describe()
    check_main_at_worker_counts(
        tmp_path, warm_cache, project, reference, mode={**EXACT, WITHHELD: "users,points"}, bases=("users", "points")
    )


@pytest.mark.parametrize("mode", [EXACT, {}], ids=["exact", "default"])
def test_copy_seen_through_an_importer(tmp_path: Path, warm_cache: WarmCache, mode: dict[str, str]) -> None:
    """`mid` copies a function of `base` into a class; `main` shows that class in a protocol conflict.

    With either from the cache mypy prints another signature (`def (x: int)
    -> int`, checked here with both cached): `base.k` keeps no argument list
    there.  `main` goes to a worker that did not check one of them, which
    puts `k`'s argument list back on the `base` it loads.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text("from typing import Any\n\ndef k(self: Any, x: int) -> int: return x\n")
    (project / "mid.py").write_text("from base import k\n\nclass Q:\n    m = k\n")
    main = (
        "from typing import Protocol\nfrom mid import Q\n\n"
        "class P(Protocol):\n    def m(self, x: str) -> int: ...\n\n"
        "def g(x: P) -> None: ...\n\ng(Q())\n"
    )
    (project / "main.py").write_text(main)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert "def k(self, x: int) -> int" in reference.stdout, reference.describe()
    (project / "main.py").write_text(main + "# edited\n")
    cached = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert "def (x: int) -> int" in cached.stdout, cached.describe()
    (project / "main.py").write_text(main)
    check_main_at_worker_counts(tmp_path, warm_cache, project, reference, mode=mode, bases=("base", "mid"))


def test_typeshed_checked_in_this_run(tmp_path: Path) -> None:
    """On a cold cache the standard library is checked too, and is in memory for mypy.

    An overloaded method of `dict` called on the class lists its variants
    with a `self` from the cache: a worker that loads builtins puts their
    argument lists back.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("dict.get({}, 1, 2, 3)\n")
    reference = run_tool(MYPY, ["main.py"], project, tmp_path / "mypy", {})
    assert "def [_KT, _VT] get(dict[_KT, _VT], _KT, _VT, /)" in reference.stdout, reference.describe()
    ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, tmp_path / "split", EXACT)
    assert_same_answer(ours, reference)


def test_shared_cycle_helpers_hold_the_needs(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Every process checking bodies of a shared cycle (owner, helpers) has `base` (withheld) in memory."""
    project = tmp_path / "project"
    (project / "ring").mkdir(parents=True)
    (project / "base.py").write_text(DATACLASS)
    (project / "ring" / "__init__.py").write_text("")
    for index in range(6):
        (project / "ring" / f"m{index}.py").write_text(
            f"from ring import m{(index + 5) % 6}\nfrom base import User\n\n"
            f"class C{index}:\n    def run(self) -> int:\n        User(nam='x')\n        return 0\n"
        )
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["-p", "ring"], project, mypy_cache, {})
    assert reference.stdout.count("[call-arg]") == 6, reference.describe()
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    # Sharing forced: idle workers join the cycle's bodies at once.
    ours = run_tool(
        MYPY_SPLIT, ["-p", "ring", "-n", "3"], project, cache, {**EXACT, **WITHHELD_BASE, SHARE_MIN_VARIABLE: "0"}
    )
    assert_same_answer(ours, reference)


# With `base`'s memory form withheld, this process keeps it in memory too:
# a `BINDING` case, a note, and a function copied into a class body.
TAKEN_OVER = [
    *BINDING,
    next(case for case in FLAGGED if not case.binding),
    next(case for case in FLAGGED if case.name == "plain_function_bound_as_method_in_protocol_conflict"),
]


@pytest.mark.parametrize("case", TAKEN_OVER, ids=lambda case: case.name)
def test_taken_over_after_a_fault_with_base_in_memory(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    """`main`'s worker dies between its phases: the coordinator checks `main` itself, `base` in memory.

    Another worker checked `base`; loading it from the cache would give the
    case's cache form.
    """
    forms = mypy_forms(tmp_path, warm_cache, case)
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    args = ["main.py", "-n", "2", "-v"]
    stdout, stderr, returncode = run_killing_between_phases(
        args, forms.project, cache, "main", tmp_path, WITHHELD_BASE
    )
    assert (stdout, returncode) == (forms.cold.stdout, forms.cold.returncode), stderr[-4000:]
    assert "checks in memory again" in stderr, stderr[-4000:]
    again = run_tool(MYPY, ["main.py", "-v"], forms.project, cache, {})
    assert again.stdout == forms.cold.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr



COPY_CASE = next(case for case in FLAGGED if case.name == "plain_function_bound_as_method_in_protocol_conflict")


def run_with_main_crashing_once(
    tmp_path: Path, warm_cache: WarmCache, args: list[str], env: dict[str, str]
) -> tuple[MypyForms, RunResult]:
    """mypy's two forms of the copy case, and mypy-split's run whose first worker to start `main` dies."""
    forms = mypy_forms(tmp_path, warm_cache, COPY_CASE)
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {CRASH_ON: "main", MARKERS: str(markers), POOL_WORTH_VARIABLE: "0", **env}
    ours = run_tool(MYPY_SPLIT, ["main.py", "-v", *args], forms.project, cache, env)
    assert (markers / "crash-main").exists(), "the worker did not die on main"
    return forms, ours


def assert_mypy_replays(forms: MypyForms, cache: Path, expected: str) -> None:
    """mypy finds the cache fresh and prints `expected`."""
    again = run_tool(MYPY, ["main.py", "-v"], forms.project, cache, {})
    assert again.stdout == expected, again.describe()
    assert stale_lines(again) == [], again.stderr


def test_copy_checked_in_the_coordinator(tmp_path: Path, warm_cache: WarmCache) -> None:
    """The coordinator checks `main` itself, `base` loaded from the cache, and prints mypy's cold form.

    At `-n 1` the only worker checks `base`, then dies as it starts `main`;
    with no replacement left (none allowed here), the coordinator checks
    `main` itself.  It loads `base` from the cache for that check and puts
    `k`'s argument list back (`memory_form.py`); the cache it leaves gives
    the next `mypy` the same answer.
    """
    forms, ours = run_with_main_crashing_once(tmp_path, warm_cache, ["-n", "1"], {REPLACEMENTS_VARIABLE: "0"})
    assert (ours.stdout, ours.returncode) == (forms.cold.stdout, forms.cold.returncode), ours.describe()
    assert_mypy_replays(forms, tmp_path / "split", forms.cold.stdout)


def test_copy_checked_on_a_replacement_worker(tmp_path: Path, warm_cache: WarmCache) -> None:
    """As above, but a new worker replaces the lost one and runs `main`, `base` from the cache: the cold form."""
    forms, ours = run_with_main_crashing_once(tmp_path, warm_cache, ["-n", "1"], {})
    assert "starts in place of a lost one" in ours.stderr, ours.describe()
    assert (ours.stdout, ours.returncode) == (forms.cold.stdout, forms.cold.returncode), ours.describe()
    assert_mypy_replays(forms, tmp_path / "split", forms.cold.stdout)


@pytest.mark.parametrize("mode", [EXACT, {}], ids=["exact", "default"])
def test_copy_checked_by_a_retried_task(tmp_path: Path, warm_cache: WarmCache, mode: dict[str, str]) -> None:
    """`main`'s first worker dies as it starts; the other worker runs it again, with mypy's answer."""
    forms, ours = run_with_main_crashing_once(tmp_path, warm_cache, ["-n", "2"], mode)
    assert (ours.stdout, ours.returncode) == (forms.cold.stdout, forms.cold.returncode), ours.describe()
    assert_mypy_replays(forms, tmp_path / "split", forms.cold.stdout)
