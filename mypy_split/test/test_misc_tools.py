"""The benchmark tools in misc/: the simulator core, the project generator, the edits.

The simulator's core is pure, so it is tested on hand-made DAGs whose wall
time is known.  The generator and the edits are tested for what the
benchmarks rely on: the same seed gives the same files, the graphs have the
promised shape, mypy-split answers as mypy does on a generated project, and
a core interface edit makes dependents stale while a body edit does not.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "misc"))

import edits  # noqa: E402
import gen_project  # noqa: E402
from sim_core import (  # noqa: E402
    Overheads,
    SimulationError,
    critical_path,
    ideal,
    simulate,
)


def dag(deps: dict[int, list[int]]) -> list[SccNode]:
    """Nodes in the given (topological) order, each SCC one module."""
    dependents: dict[int, list[int]] = {scc_id: [] for scc_id in deps}
    for scc_id, scc_deps in deps.items():
        for dep in scc_deps:
            dependents.setdefault(dep, []).append(scc_id)
    return [
        SccNode(scc_id, frozenset(scc_deps), tuple(dependents[scc_id]), (f"m{scc_id}",), 1)
        for scc_id, scc_deps in deps.items()
    ]


STALE_LOG = re.compile(r"Scheduling SCC .* as (inherently stale|stale due to)")
CHAIN = {0: [], 1: [0], 2: [1]}
CHAIN_COSTS = {scc_id: PhaseCost(1.0, 2.0) for scc_id in CHAIN}


# ---------------------------------------------------------------- the simulator


@pytest.mark.parametrize(("workers", "expected"), [(1, 9.0), (2, 6.0), (3, 5.0), (8, 5.0)])
def test_chain_dependents_start_after_the_interface(workers: int, expected: float) -> None:
    # 0's interface ends at 1, so 1 starts there on a second worker while 0's
    # body runs; with 2 workers, 2 waits for the first free one at 3.
    assert simulate(dag(CHAIN), CHAIN_COSTS, workers).makespan == expected
    assert critical_path(dag(CHAIN), CHAIN_COSTS) == 5.0


def test_independent_sccs_with_every_overhead() -> None:
    nodes = dag({0: [], 1: [], 2: [], 3: []})
    costs = {scc_id: PhaseCost(0.5, 0.5) for scc_id in range(4)}
    assert simulate(nodes, costs, 2).makespan == 2.0
    # 1 s before anything runs, workers ready 0.5 s later, 0.1 s per task: 1 + 0.5 + 2 * 1.1.
    result = simulate(nodes, costs, 2, Overheads(serial_start=1.0, worker_start=0.5, per_task=0.1))
    assert result.makespan == pytest.approx(3.7)
    assert result.busy == pytest.approx(4.4)
    assert result.tasks == 4
    assert ideal(nodes, costs, 2, serial_start=1.0) == 3.0


def test_longest_critical_path_goes_first() -> None:
    # Plan order puts the independent 3 and 4 first; the chain 0 -> 1 -> 2 is
    # longer, so it starts at once (in plan order it would end at 5).
    nodes = dag({3: [], 4: [], 0: [], 1: [0], 2: [1]})
    costs = {scc_id: PhaseCost(1.0, 0.0) for scc_id in (0, 1, 2)} | {3: PhaseCost(2.0, 0.0), 4: PhaseCost(2.0, 0.0)}
    assert simulate(nodes, costs, 1).makespan == 7.0
    assert simulate(nodes, costs, 2).makespan == 4.0


def test_fresh_sccs_cost_nothing_and_release_their_dependents() -> None:
    result = simulate(dag(CHAIN), CHAIN_COSTS, 2, fresh={0, 1})
    assert (result.makespan, result.tasks) == (3.0, 1)


def test_no_stale_scc_ends_at_the_serial_start() -> None:
    result = simulate(dag(CHAIN), CHAIN_COSTS, 4, Overheads(serial_start=0.7), fresh={0, 1, 2})
    assert (result.makespan, result.tasks) == (0.7, 0)


def test_a_dependency_outside_the_dag_is_reported() -> None:
    nodes = [SccNode(1, frozenset({0}), (), ("m1",), 1)]
    with pytest.raises(SimulationError):
        simulate(nodes, {1: PhaseCost(1.0, 1.0)}, 2)


@pytest.mark.parametrize("seed", range(5))
def test_no_simulation_beats_the_ideal_bound(seed: int) -> None:
    rng = random.Random(seed)
    deps = {i: rng.sample(range(i), min(i, rng.randint(0, 3))) for i in range(40)}
    costs = {i: PhaseCost(rng.uniform(0, 1), rng.uniform(0, 2)) for i in deps}
    nodes = dag(deps)
    for workers in (1, 2, 3, 5, 16):
        makespan = simulate(nodes, costs, workers, Overheads(serial_start=0.5)).makespan
        assert makespan >= ideal(nodes, costs, workers, 0.5) - 1e-9
    work = sum(cost.interface + cost.implementation for cost in costs.values())
    assert simulate(nodes, costs, 1).makespan == pytest.approx(work)


# ---------------------------------------------------------------- the generator


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.py"))}


def test_generator_is_deterministic_and_valid(tmp_path: Path) -> None:
    first = gen_project.generate("tiny", tmp_path / "a", seed=3, scale=0.05)
    again = gen_project.generate("tiny", tmp_path / "b", seed=3, scale=0.05)
    other = gen_project.generate("tiny", tmp_path / "c", seed=4, scale=0.05)
    assert files_of(first) == files_of(again)
    assert files_of(first) != files_of(other)
    for name, text in files_of(first).items():
        compile(text, name, "exec")


def test_generated_shapes(tmp_path: Path) -> None:
    chain = gen_project.generate("chain", tmp_path / "chain", scale=0.05)
    chain_files = edits.module_files([chain])
    counts = edits.importer_counts(chain_files)
    # 10 chained modules (each imported by the next, the last by main), main, 2 packages' __init__.
    numbered = sorted(name for name in chain_files if name.rpartition(".")[2].startswith("m0"))
    assert len(numbered) == 10
    assert all(counts[name] == 1 for name in numbered)

    cycle = gen_project.generate("cycle", tmp_path / "cycle", scale=0.05)
    ring = sorted((cycle / "ring").glob("m*.py"))
    assert len(ring) == 20
    # The first import of each ring module is the next one, and the last imports the first.
    for position, path in enumerate(ring):
        wanted = ring[(position + 1) % len(ring)].stem
        assert f"from synth_cycle.ring import {wanted} as d0" in path.read_text()


def test_generated_project_same_answer_and_edits(tmp_path: Path, warm_cache: WarmCache) -> None:
    """mypy-split answers as mypy; a core interface edit makes importers stale, a body edit does not."""
    project = tmp_path / "project"
    package = gen_project.generate("tiny", project, seed=1, scale=0.02)
    args = ["--config-file", "mypy.ini", "-p", "synth_tiny"]
    caches = {name: shutil.copytree(warm_cache([]), tmp_path / name) for name in ("mypy", "split")}
    expected = run_tool(MYPY, args, project, caches["mypy"], {})
    actual = run_tool(MYPY_SPLIT, [*args, "-n", "2"], project, caches["split"], {})
    assert expected.returncode == 1 and "error:" in expected.stdout, expected.describe()
    assert actual == expected

    targets = edits.choose_targets([package])
    assert targets.core_importers >= 5
    assert targets.leaf != targets.core
    stale = {}
    for kind in ("body", "interface"):
        # As perf_compare does: each edited run on a copy of the fresh cache.
        scratch = tmp_path / f"edit-{kind}"
        shutil.copytree(caches["mypy"], scratch)
        with edits.edited(targets.core, kind):
            verbose = run_tool(MYPY, [*args, "-v"], project, scratch, {})
        stale[kind] = STALE_LOG.findall(verbose.stderr)
        # Undone: the bytes and mtime are back, so the cache from before the edit is fresh.
        fresh = run_tool(MYPY, [*args, "-v"], project, caches["mypy"], {})
        assert not STALE_LOG.findall(fresh.stderr)
    assert len(stale["body"]) == 1
    assert len(stale["interface"]) > targets.core_importers // 2



def test_benchmark_tools_carry_their_own_settings(tmp_path: Path) -> None:
    import argparse

    import corpora

    plain = corpora.parse_tool("split:2")
    tuned = corpora.parse_tool("split:2+MYPY_SPLIT_SEND_AHEAD=0+OTHER=a b")
    assert plain != tuned and plain.slug != tuned.slug
    assert tuned.label == "mypy-split -n 2 MYPY_SPLIT_SEND_AHEAD=0 OTHER=a b"
    env = corpora.tool_env(tmp_path, tuned)
    assert env["MYPY_SPLIT_SEND_AHEAD"] == "0" and env["OTHER"] == "a b"
    assert corpora.tool_env(tmp_path, plain) == corpora.tool_env(tmp_path)
    with pytest.raises(argparse.ArgumentTypeError):
        corpora.parse_tool("split:2+not a setting")


def run_beside_misc(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A Python script run in a fresh interpreter that imports misc/'s modules; it must succeed."""
    misc = Path(__file__).resolve().parents[2] / "misc"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env={**os.environ, "PYTHONPATH": str(misc)},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory is sampled from /proc")
def test_perf_compare_memory_is_the_tools_own(tmp_path: Path) -> None:
    """A run's peak is what its processes held, not what the measuring script held when it started them.

    (A child's max RSS as wait4 reports it includes its parent's resident
    pages at the fork: perf_compare holds a corpus's import graph.)
    """
    script = (
        "import sys, perf_compare\n"
        "held = bytearray(400 * 2**20)\n"
        "held[::4096] = b'x' * len(held[::4096])\n"
        "sample = perf_compare.measure([sys.executable, '-c', 'import time; time.sleep(0.3)'], "
        "__import__('pathlib').Path('.'), {})\n"
        "print(sample.peak)\n"
    )
    done = run_beside_misc(script, tmp_path)
    peak = int(done.stdout.split()[-1])
    assert 0 < peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB for an idle interpreter"


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="PSS is read from smaps_rollup")
def test_perf_compare_counts_shared_pages_once_in_pss(tmp_path: Path) -> None:
    """A process that forks a copy of its 200 MiB: RSS summed counts them twice, the PSS sum once."""
    tool = (
        "import os, time\n"
        "held = bytearray(200 * 2**20)\n"
        "held[::4096] = b'x' * len(held[::4096])\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.6)\n"
        "    os._exit(0)\n"
        "time.sleep(0.6)\n"
        "os.wait()\n"
    )
    script = (
        "import sys, pathlib, perf_compare\n"
        f"sample = perf_compare.measure([sys.executable, '-c', {tool!r}], pathlib.Path('.'), {{}})\n"
        "print(sample.peak, sample.peak_pss)\n"
    )
    done = run_beside_misc(script, tmp_path)
    peak, pss = (int(value) / 2**20 for value in done.stdout.split()[-2:])
    assert peak > 380 and 190 < pss < 280, f"RSS summed {peak:.0f} MiB, PSS summed {pss:.0f} MiB"


def test_perf_compare_keeps_what_a_failed_run_said(tmp_path: Path) -> None:
    """A run that exits 2 shows the end of its stderr; one that passes keeps nothing."""
    script = (
        "import sys, pathlib, perf_compare\n"
        "fail = 'import sys; print(\"mypy-split: error: boom\", file=sys.stderr); sys.exit(2)'\n"
        "ok = 'import sys; print(\"a warning\", file=sys.stderr); sys.exit(1)'\n"
        "for code in (fail, ok):\n"
        "    sample = perf_compare.measure([sys.executable, '-c', code], pathlib.Path('.'), {})\n"
        "    print(sample.returncode, repr(sample.failure))\n"
    )
    done = run_beside_misc(script, tmp_path)
    assert done.stdout.splitlines() == ["2 'mypy-split: error: boom\\n'", "1 ''"]


def test_perf_compare_gives_every_tool_the_extra_flags(tmp_path: Path) -> None:
    import corpora
    import perf_compare

    corpus = corpora.Corpus("c", tmp_path, ("-p", "pkg"), tmp_path / "pkg" / "a.py")
    bench = perf_compare.Bench(corpus, tmp_path, ["--soft-error-limit", "5"])
    for spec in ("mypy:0", "split:2"):
        command = bench.command(corpora.parse_tool(spec))
        # After the corpus's arguments, before the worker count (which must come last).
        assert command[1:5] == ["-p", "pkg", "--soft-error-limit", "5"], command
        assert command[-2] == "-n", command


def test_side_by_side_runs_two_at_once_and_times_each(tmp_path: Path) -> None:
    import corpora
    import side_by_side

    class Busy(corpora.Corpus):
        """A 'corpus' whose command spins the CPU for 0.4 s: no mypy needed."""

        def command(self, tool: corpora.Tool, extra: Sequence[str] = ()) -> list[str]:
            spin = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
            return [sys.executable, "-c", spin]

    busy = Busy("busy", tmp_path, (), tmp_path / "none.py")
    tool = corpora.parse_tool("mypy:0")
    started = time.perf_counter()
    runs = side_by_side.together(busy, tool, [tmp_path / "a", tmp_path / "b"])
    elapsed = time.perf_counter() - started
    assert [run.returncode for run in runs] == [0, 0]
    # Each run's own CPU time, not its sibling's.
    assert all(0.35 < run.cpu < 0.7 for run in runs), runs
    # Started together: on one CPU they share it, on two they overlap; never one after the other plus.
    assert elapsed < runs[0].wall + runs[1].wall, (elapsed, runs)
    report = side_by_side.compare(busy, tool, 1, tmp_path)
    assert re.search(r"round 1: alone wall [\d.]+ s, cpu [\d.]+ s; side by side wall [\d.]+, [\d.]+ s", report), report
    assert "medians side by side against alone: wall" in report


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU time is sampled from /proc")
def test_perf_compare_tells_the_main_process_cpu_apart(tmp_path: Path) -> None:
    """The tool's main process's own CPU time, apart from a busy child's, which the tree's total counts."""
    spin = "import time\nend = time.process_time() + {0}\nwhile time.process_time() < end: pass\n"
    main = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {spin.format(0.6)!r}])\n"
        f"exec({spin.format(0.2)!r})\n"
        "child.wait()\n"
    )
    script = (
        "import sys, pathlib, perf_compare\n"
        f"sample = perf_compare.measure([sys.executable, '-c', {main!r}], pathlib.Path('.'), {{}})\n"
        "print(sample.main_cpu, sample.cpu)\n"
    )
    done = run_beside_misc(script, tmp_path)
    main_cpu, total = map(float, done.stdout.split())
    assert 0.15 < main_cpu < 0.45, done.stdout
    assert total > main_cpu + 0.5, done.stdout
