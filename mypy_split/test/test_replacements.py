"""Lost workers replaced mid-run: the pure decision, and the run that uses it."""

from __future__ import annotations

import pytest

from mypy_split.replacements import Replacements
from mypy_split.tuning import REPLACEMENTS_VARIABLE


def test_replaces_the_missing_workers_while_work_pays() -> None:
    replacements = Replacements(budget=4, minimum_work=1.0)
    assert replacements.wanted(live=1, target=3, unstarted_work=5.0) == 2
    assert replacements.wanted(live=3, target=3, unstarted_work=5.0) == 0


def test_not_for_work_that_does_not_pay() -> None:
    replacements = Replacements(budget=4, minimum_work=1.0)
    assert replacements.wanted(live=0, target=2, unstarted_work=0.5) == 0
    # Tests force workers with a minimum of 0: still none for no work at all.
    forced = Replacements(budget=4, minimum_work=0.0)
    assert forced.wanted(live=0, target=2, unstarted_work=0.0) == 0
    assert forced.wanted(live=0, target=2, unstarted_work=0.01) == 2


def test_budget_runs_out() -> None:
    replacements = Replacements(budget=3, minimum_work=0.0)
    for _ in range(2):
        replacements.take()
    assert replacements.wanted(live=0, target=2, unstarted_work=9.0) == 1
    replacements.take()
    assert replacements.wanted(live=0, target=2, unstarted_work=9.0) == 0


@pytest.mark.parametrize(("setting", "expected"), [(None, 3), ("0", 0), ("5", 5), ("-2", 0), ("many", 3)])
def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: int) -> None:
    if setting is None:
        monkeypatch.delenv(REPLACEMENTS_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(REPLACEMENTS_VARIABLE, setting)
    assert Replacements.for_run(3).left == expected
