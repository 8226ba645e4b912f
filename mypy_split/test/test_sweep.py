"""misc/cache_memory_sweep.py and cache_memory_grid.py: they find cache-versus-memory differences and grade them.

The known cases (`cache_memory_cases.py`) are written as mypy corpus cases and
swept one by one: each must be found, with the level the README gives it, and
a case without such a difference must not be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mypy_split.test.cache_memory_cases import CASES, Case
from mypy_split.test.casefile import Case as CaseFile
from mypy_split.test.casefile import Step
from mypy_split.test.conftest import WarmCache
from mypy_split.test.mypy_corpus import CorpusCase

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "misc"))

import cache_memory_grid  # noqa: E402
import cache_memory_sweep  # noqa: E402


def corpus_case(name: str, base: str, main: str) -> CorpusCase:
    step = Step(flags=[], targets=["tmp/main.py"], writes={"tmp/main.py": main, "tmp/base.py": base})
    return CorpusCase(CaseFile(name=name, source="known", line=1, steps=[step]))


def by_name(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


def expected_level(case: Case) -> str:
    return "BINDING" if case.binding else "MESSAGES"


# One case of each level, one whose difference is a note gained from the
# cache, and the one flagged through the importer's copy.
SWEPT = [
    case
    for case in CASES
    if case.name == "plain_function_bound_as_method_in_protocol_conflict"
    or case.binding
    or case is CASES[0]
]


@pytest.mark.parametrize("case", SWEPT, ids=lambda case: case.name)
def test_known_difference_found_and_graded(tmp_path: Path, warm_cache: WarmCache, case: Case) -> None:
    finding = cache_memory_sweep.sweep_case(corpus_case(case.name, case.base, case.main), warm_cache, tmp_path)
    assert finding is not None, "not found"
    assert finding.level == expected_level(case)
    assert finding.modules["base"] == cache_memory_sweep.LEVELS.index(finding.level)
    # The two forms, as the diff shows them (the project lives in tmp/ here).
    assert "-tmp/" + case.cold.splitlines()[0] in finding.diff or "+tmp/" + case.warm.splitlines()[-1] in finding.diff


def test_same_answer_is_no_finding(tmp_path: Path, warm_cache: WarmCache) -> None:
    base = CASES[0].base
    main = "from base import User\nUser(name=1)\n"
    assert cache_memory_sweep.sweep_case(corpus_case("same", base, main), warm_cache, tmp_path) is None


def test_sweepable_cases() -> None:
    case = corpus_case("two modules", "x = 1\n", "import base\n")
    assert cache_memory_sweep.sweepable(case)
    alone = CorpusCase(CaseFile("alone", "known", 1, [Step(targets=["tmp/main.py"], writes={"tmp/main.py": ""})]))
    assert not cache_memory_sweep.sweepable(alone)
    no_cache = corpus_case("no cache", "x = 1\n", "import base\n")
    no_cache.case.steps[0].flags.append("--no-incremental")
    assert not cache_memory_sweep.sweepable(no_cache)
    skipped = CorpusCase(case.case, skip="marked skip")
    assert not cache_memory_sweep.sweepable(skipped)


@pytest.mark.parametrize(
    ("entry", "level"),
    [
        ("callable/function", "MESSAGES"),
        ("namedtuple/method", "MESSAGES"),
        ("class/method", None),
        ("value/enum_members", "RESTORED"),
        ("value/sorted_enum_members", None),
    ],
)
def test_grid_entries(tmp_path: Path, warm_cache: WarmCache, entry: str, level: str | None) -> None:
    """The grid's pairs: a plain method shows no difference; the listed kinds are found, graded.

    A plain function is graded by `main`'s copy of it into a class body; an
    enum's members, out of sorted order, are put back where it is loaded
    (`stored_order.py`); in sorted order they read the same from the cache.
    """
    base, main = cache_memory_grid.grid()[entry]
    finding = cache_memory_sweep.sweep_case(cache_memory_grid.as_case(entry, base, main), warm_cache, tmp_path)
    assert (finding.level if finding else None) == level


@pytest.mark.parametrize("mode", ["exact", "default"])
@pytest.mark.parametrize("entry", ["class/keyword_only_method", "callable/function"])
def test_grid_mode_check(tmp_path: Path, warm_cache: WarmCache, mode: str, entry: str) -> None:
    """Both modes give mypy's cold answer on a flagged pair (workers forced, every run).

    The default mode by confirming the answer in the coordinator; both modes
    so for a function that `main` copies into a class body, known to matter
    only once `main` is checked.
    """
    pair = cache_memory_grid.as_case(entry, *cache_memory_grid.grid()[entry])
    env = cache_memory_grid.MODES[mode]
    assert cache_memory_grid.mode_differs(pair, warm_cache, tmp_path, ["2", "3"], env) == []


def test_grid_mode_verdict(monkeypatch: pytest.MonkeyPatch, warm_cache: WarmCache) -> None:
    """A pair where a mode differs from mypy's cold answer fails the check."""
    grid = cache_memory_grid.grid()
    same = cache_memory_grid.as_case("callable/function", *grid["callable/function"])
    other = cache_memory_grid.as_case("class/method", *grid["class/method"])
    monkeypatch.setattr(cache_memory_grid, "mode_differs", lambda case, *_: ["2"] if case is other else [])
    assert cache_memory_grid.check_mode("exact", [same], warm_cache, 1, ["2"]) == 0
    assert cache_memory_grid.check_mode("default", [same, other], warm_cache, 1, ["2"]) == 1
