"""Every case in test-data/*.test, through `mypy` and `mypy-split`, compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from mypy_split.test.casefile import Case, parse_case_file
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import WORKER_COUNTS, run_case

TEST_DATA = Path(__file__).resolve().parents[2] / "test-data"


def all_cases() -> list[Case]:
    return [case for path in sorted(TEST_DATA.glob("*.test")) for case in parse_case_file(path)]


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: f"{case.source}::{case.name}")
def test_same_answer_as_mypy(case: Case, tmp_path: Path, warm_cache: WarmCache) -> None:
    """At -n 0, 1, 2 and 3 (see worker_counts and run_case)."""
    run_case(case, tmp_path, warm_cache(case.steps[0].flags), worker_counts(case))


def worker_counts(case: Case) -> tuple[int, ...]:
    """All counts, except that a one-module project gains nothing from 1 or 3 workers."""
    if case.worker_counts is not None:
        return case.worker_counts
    python_files = {name for step in case.steps for name in step.writes if name.endswith((".py", ".pyi"))}
    return (0, 2) if len(python_files) <= 1 else WORKER_COUNTS
