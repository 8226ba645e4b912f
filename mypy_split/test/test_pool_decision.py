"""Whether workers pay: the stale work known, and the dependents a changed interface makes stale."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import mypy.main
import pytest
from mypy.fscache import FileSystemCache

from mypy_split import driver, engine
from mypy_split.pool_decision import StaleWork, StartWhileLoading
from mypy_split.schedule import PhaseCost
from mypy_split.tuning import POOL_WORTH_VARIABLE

if TYPE_CHECKING:
    from mypy_split.pool import WorkerPool

COSTS = {0: 5.0, 1: 0.6, 2: 0.6, 3: 0.2}


@pytest.fixture(autouse=True)
def default_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test session starts workers for any work (conftest); these use the real threshold (1 s).
    monkeypatch.delenv(POOL_WORTH_VARIABLE)


def test_one_big_stale_scc_alone_does_not_pay() -> None:
    work: StaleWork[int] = StaleWork(COSTS.__getitem__)
    work.stale(0)
    assert not work.workers_pay()
    work.stale(3)
    assert not work.workers_pay()


def test_work_besides_the_largest_pays_once_it_reaches_the_threshold() -> None:
    work: StaleWork[int] = StaleWork(COSTS.__getitem__)
    for scc_id in (0, 1, 3):
        work.stale(scc_id)
    assert not work.workers_pay()  # 0.8 s besides the largest
    work.stale(2)
    assert work.workers_pay()


def test_a_changed_interface_counts_its_dependents_and_an_unchanged_one_does_not() -> None:
    work: StaleWork[int] = StaleWork(COSTS.__getitem__)
    work.stale(0)
    work.interface_known(False, [1, 2])
    assert not work.workers_pay()
    work.interface_known(True, [1, 2])
    assert work.workers_pay()


def test_one_big_scc_pays_when_other_workers_could_share_its_bodies() -> None:
    """What helpers could take off the owner counts as work for other processes."""
    shareable = {0: 1.5}
    work: StaleWork[int] = StaleWork(COSTS.__getitem__, lambda scc_id: shareable.get(scc_id, 0.0))
    work.stale(0)
    assert work.workers_pay()


def test_bodies_too_small_to_share_leave_the_big_scc_in_one_process() -> None:
    shareable = {0: 0.5}
    work: StaleWork[int] = StaleWork(COSTS.__getitem__, lambda scc_id: shareable.get(scc_id, 0.0))
    work.stale(0)
    assert not work.workers_pay()
    work.stale(1)  # 0.5 s shareable, 0.6 s besides: enough together
    assert work.workers_pay()


def test_an_scc_counts_once() -> None:
    work: StaleWork[int] = StaleWork(COSTS.__getitem__)
    for _ in range(3):
        work.stale(0)
        work.stale(1)
    work.interface_known(True, [1, 1])
    assert not work.workers_pay()


def test_the_load_starts_workers_once_when_the_parsed_modules_pay() -> None:
    """Recorded seconds where known, else size at the default rate; one start at most."""
    started: list[str] = []

    def start() -> WorkerPool:
        started.append("pool")
        return cast("WorkerPool", object())

    recorded = {"big": PhaseCost(3.0, 2.0), "known": PhaseCost(0.2, 0.3)}
    sizes = {"new.py": 400_000}  # 0.4 s at the default rate
    starter = StartWhileLoading(start, recorded, lambda path: sizes.get(path or "", 0))
    starter.parsed("big", "big.py")
    starter.parsed("known", "known.py")
    assert not started and starter.take_pool() is None
    starter.parsed("new", "new.py")
    assert started == [] and starter.pool is None  # 0.9 s besides the largest
    starter.parsed("other", "new.py")
    assert started == ["pool"]
    starter.parsed("more", "new.py")
    assert started == ["pool"]
    pool = starter.take_pool()
    assert pool is not None and starter.take_pool() is None


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--no-incremental"],
        ["--txt-report", "REPORTS"],
        ["--cache-fine-grained"],
        ["--no-incremental", "--txt-report", "REPORTS"],
    ],
)
def test_the_early_start_knows_whether_the_build_will_read_the_cache(flags: list[str], tmp_path: Path) -> None:
    """Workers may start (forked) before the build opens: the engine's own answer is foretold from the options."""
    program = tmp_path / "program.py"
    program.write_text("x = 1\n")
    reports = str(tmp_path / "reports")
    argv = [str(program), "--cache-dir", str(tmp_path / "cache"), *(reports if f == "REPORTS" else f for f in flags)]
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(argv, fscache=fscache)
    manager = engine.open_build(
        sources, options, fscache=fscache, flush_errors=lambda *args: None, stdout=sys.stdout, stderr=sys.stderr
    )
    try:
        assert driver.reads_cache(options) == manager.cache_enabled
    finally:
        manager.metastore.close()
