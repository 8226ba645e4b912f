"""misc/cache_memory_sweep.py and cache_memory_grid.py: they find cache-versus-memory differences and grade them.

The known cases (`cache_memory_cases.py`) are written as mypy corpus cases and
swept one by one: each must be found, graded `BINDING` or, its memory form put
back, `RESTORED` (or `MESSAGES` with the memory form withheld), and a case
without such a difference must not be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import WITHHELD
from mypy_split.test.cache_memory_cases import CASES, Case
from mypy_split.test.casefile import Case as CaseFile
from mypy_split.test.casefile import Step
from mypy_split.test.conftest import WarmCache
from mypy_split.test.mypy_corpus import CorpusCase
from mypy_split.tuning import CONFIRM_VARIABLE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "misc"))

import cache_memory_grid  # noqa: E402
import cache_memory_sweep  # noqa: E402


def corpus_case(name: str, base: str, main: str) -> CorpusCase:
    step = Step(flags=[], targets=["tmp/main.py"], writes={"tmp/main.py": main, "tmp/base.py": base})
    return CorpusCase(CaseFile(name=name, source="known", line=1, steps=[step]))


def by_name(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


def expected_level(case: Case) -> str:
    return "BINDING" if case.binding else "RESTORED"


# One case of each level, one whose difference is a note gained from the
# cache, and a function the importer copies into a class body.
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
    level = "NONE" if finding.level == cache_memory_sweep.RESTORED else finding.level
    assert finding.modules["base"] == cache_memory_sweep.LEVELS.index(level)
    # The two forms, as the diff shows them (the project lives in tmp/ here).
    assert "-tmp/" + case.cold.splitlines()[0] in finding.diff or "+tmp/" + case.warm.splitlines()[-1] in finding.diff


def test_withheld_memory_form_is_graded_messages(
    tmp_path: Path, warm_cache: WarmCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `base`'s memory form withheld, a case is `MESSAGES`; with nothing kept in memory either, `NONE`."""
    case = by_name("dataclass_init_defined_in_note")
    monkeypatch.setenv(WITHHELD, "base")
    finding = cache_memory_sweep.sweep_case(corpus_case(case.name, case.base, case.main), warm_cache, tmp_path)
    assert finding is not None and finding.level == "MESSAGES"
    # Nothing flagged, nothing put back, nothing confirmed: the sweep's own run shows the cache form.
    monkeypatch.setattr(cache_memory_sweep, "classify", lambda *_: {"base": 0, "main": 0})
    monkeypatch.setenv(CONFIRM_VARIABLE, "0")
    finding = cache_memory_sweep.sweep_case(corpus_case(case.name, case.base, case.main), warm_cache, tmp_path)
    assert finding is not None and finding.level == "NONE"


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
        ("callable/function", "RESTORED"),
        ("namedtuple/method", "RESTORED"),
        ("namedtuple/overloaded_class_method", "RESTORED"),
        ("class/method", None),
        ("value/enum_members", "RESTORED"),
        ("value/sorted_enum_members", None),
    ],
)
def test_grid_entries(tmp_path: Path, warm_cache: WarmCache, entry: str, level: str | None) -> None:
    """The grid's pairs: a plain method shows no difference; the listed kinds are found, graded.

    A plain function copied into a class body by `main` gets its argument
    list back where it is loaded (`memory_form.py`), as a generated method its
    definition link, and an overload's implementation too; an enum's members,
    out of sorted order, are put back (`stored_order.py`); in sorted order
    they read the same from the cache.
    """
    base, main = cache_memory_grid.grid()[entry]
    finding = cache_memory_sweep.sweep_case(cache_memory_grid.as_case(entry, base, main), warm_cache, tmp_path)
    assert (finding.level if finding else None) == level


@pytest.mark.parametrize("mode", ["exact", "default"])
@pytest.mark.parametrize("entry", ["class/keyword_only_method", "callable/function"])
def test_grid_mode_check(tmp_path: Path, warm_cache: WarmCache, mode: str, entry: str) -> None:
    """Both modes give mypy's cold answer on a pair with a difference (workers forced, every run)."""
    pair = cache_memory_grid.as_case(entry, *cache_memory_grid.grid()[entry])
    env = cache_memory_grid.MODES[mode]
    assert cache_memory_sweep.split_differs(pair, warm_cache, tmp_path, ["2", "3"], env) == []


def test_grid_mode_verdict(monkeypatch: pytest.MonkeyPatch, warm_cache: WarmCache) -> None:
    """A pair where a mode differs from mypy's cold answer fails the check."""
    grid = cache_memory_grid.grid()
    same = cache_memory_grid.as_case("callable/function", *grid["callable/function"])
    other = cache_memory_grid.as_case("class/method", *grid["class/method"])
    monkeypatch.setattr(cache_memory_grid, "split_differs", lambda case, *_: ["2"] if case is other else [])
    assert cache_memory_grid.check_mode("exact", [same], warm_cache, 1, ["2"]) == 0
    assert cache_memory_grid.check_mode("default", [same, other], warm_cache, 1, ["2"]) == 1
