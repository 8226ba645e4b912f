"""Predict a cold parallel build's wall time for 1..N workers with our scheduler.

    python misc/simulate.py --corpus selfcheck [--max-workers 16]
    python misc/simulate.py [options] -- MYPY_ARGS...     # in the project's folder

The project's graph is loaded and cut into SCCs exactly as mypy-split does
(through the engine, no checking), each SCC gets a cost per phase, and
`sim_core.simulate` replays the build through the real `ParallelScheduler`
for each worker count, once without overheads and once with them.  Printed
per N: the ideal bound (serial start + max(total work / N, critical path)),
both simulated wall times, their efficiency against the bound, and the
speedup over one process checking everything in order.

Costs, per module: the measured phase times mypy-split records in
`<cache_dir>/<major>.<minor>/mypy_split_costs.json`
(`{"version": 1, "modules": {"pkg.mod": {"interface": s, "implementation": s}}}`)
where present (the cache folder is mypy's: `--cache-dir` in MYPY_ARGS or
MYPY_CACHE_DIR), else an estimate from the module's size, through the
scheduler's own cost model (`mypy_split.costs`) at the rate the measured
modules show (without any, a rate fitted to the self-check).  The
serial start is what loading the graph on an empty cache took here (as in a
cold build), unless given.  Only cold builds are simulated: every SCC stale.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This checkout's scheduler, and our neighbours, also under PYTHONSAFEPATH.
sys.path[:0] = [str(HERE.parent), str(HERE)]

import mypy.main  # noqa: E402
from mypy.build import MIN_SIZE_HINT, Graph  # noqa: E402
from mypy.errors import CompileError  # noqa: E402
from mypy.fscache import FileSystemCache  # noqa: E402

from mypy_split import engine  # noqa: E402
from mypy_split.costs import CostModel  # noqa: E402
from mypy_split.graph import BuildPlan, load_graph, plan_sccs  # noqa: E402
from mypy_split.schedule import PhaseCost  # noqa: E402
from sim_core import Overheads, critical_path, ideal, simulate, total  # noqa: E402

# Seconds per byte of source when nothing was measured: the self-check's
# graph (806 modules with typeshed, ~10.8 MB) at the 4.3 s of phase work
# measured for it in issue 4 (compiled engine, 2-core machine).
UNMEASURED_RATE = 4e-7


# ---------------------------------------------------------------- costs


def fill_missing_sizes(graph: Graph) -> int:
    """Give modules without a size hint their source size; how many needed it.

    In mypy 2.4.1 a graph loaded on an empty cache leaves every module's
    `size_hint` at 0 (seen on the self-check and the synthetic corpora: the
    trees are parsed, but no size is recorded), so size estimates would all
    be 0.  The size the engine records when it reads a source itself is its
    length plus MIN_SIZE_HINT; the file size is that up to encoding.
    """
    filled = 0
    for state in graph.values():
        if state.size_hint < MIN_SIZE_HINT and state.path:
            try:
                state.size_hint = os.path.getsize(state.path) + MIN_SIZE_HINT
            except OSError:
                continue
            filled += 1
    return filled


def measured_count(model: CostModel, plan: BuildPlan) -> int:
    """How many of the plan's modules have recorded costs (the rest are estimates)."""
    return sum(1 for module_id in plan.graph if module_id in model.recorded)


# ---------------------------------------------------------------- the graph


def load_plan(mypy_args: list[str], scratch: str) -> tuple[BuildPlan, CostModel, float]:
    """Parse the arguments as mypy does, load the graph and plan SCCs.

    The graph loads on an empty cache in `scratch`, as a cold build loads it
    (parsing every module), so the time it takes is that build's serial
    start.  Returns the plan, the costs recorded in the real cache, and the time.
    """
    started = time.perf_counter()
    engine.tune_process()
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(mypy_args, fscache=fscache)
    model = CostModel.load(options)
    options.num_workers = 0
    options.cache_dir = scratch
    engine.reset_process_caches()
    manager = engine.open_build(
        sources,
        options,
        fscache=fscache,
        flush_errors=lambda path, lines, serious: None,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    graph = load_graph(sources, manager)
    plan = plan_sccs(graph, manager)
    manager.metastore.close()
    return plan, model, time.perf_counter() - started


# ---------------------------------------------------------------- the report


def report(
    plan: BuildPlan, costs: Mapping[int, PhaseCost], overheads: Overheads, max_workers: int
) -> str:
    nodes = plan.nodes
    work = sum(total(cost) for cost in costs.values())
    interface = sum(cost.interface for cost in costs.values())
    path = critical_path(nodes, costs)
    biggest = max(nodes, key=lambda node: total(costs[node.id]), default=None)
    sequential = overheads.serial_start + work
    lines = [
        f"{len(plan.graph)} modules in {len(nodes)} SCCs; work {work:.2f} s "
        f"(interface {interface:.2f} s, implementation {work - interface:.2f} s); "
        f"critical path {path:.2f} s",
    ]
    if biggest is not None:
        lines.append(
            f"biggest SCC: {len(biggest.modules)} modules, {total(costs[biggest.id]):.2f} s "
            f"({', '.join(biggest.modules[:3])}{', ...' if len(biggest.modules) > 3 else ''})"
        )
    lines.append(
        f"overheads: serial start {overheads.serial_start:.2f} s, worker start {overheads.worker_start:.2f} s, "
        f"per task {overheads.per_task * 1000:.1f} ms; sequential (one process) {sequential:.2f} s"
    )
    rows = [["N", "ideal s", "sim s", "eff", "sim+ovh s", "eff", "speedup", "bound by"]]
    bare = Overheads(serial_start=overheads.serial_start)
    for workers in range(1, max_workers + 1):
        bound = ideal(nodes, costs, workers, overheads.serial_start)
        plain = simulate(nodes, costs, workers, bare).makespan
        loaded = simulate(nodes, costs, workers, overheads).makespan
        rows.append([
            str(workers), f"{bound:.2f}", f"{plain:.2f}", percent(bound, plain),
            f"{loaded:.2f}", percent(bound, loaded), f"{sequential / loaded:.2f}x",
            "critical path" if path >= work / workers else "total work",
        ])
    return "\n".join([*lines, "", format_table(rows)])


def percent(bound: float, actual: float) -> str:
    return f"{100 * bound / actual:.0f}%" if actual > 0 else "-"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)


# ---------------------------------------------------------------- command line


def corpus_args(name: str) -> tuple[Path, list[str]]:
    from corpora import select_corpora

    corpus = select_corpora(name)[0]
    return corpus.cwd, list(corpus.args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Arguments after `--` go to mypy's parser, as for `mypy-split`.",
    )
    parser.add_argument("--corpus", help="a prepared corpus (misc/corpora.py show) instead of MYPY_ARGS")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--serial-start", type=float, help="seconds before any SCC runs (default: measured here)")
    parser.add_argument("--worker-start", type=float, default=0.25, help="seconds to start a worker")
    parser.add_argument("--task-overhead", type=float, default=0.002, help="seconds per task (dispatch, loading)")
    parser.add_argument(
        "--rate", type=float,
        help=f"estimate's seconds per byte (default: the measured modules' rate, else {UNMEASURED_RATE})",
    )
    parser.add_argument("mypy_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.mypy_args[:1] == ["--"]:
        args.mypy_args = args.mypy_args[1:]
    if bool(args.corpus) == bool(args.mypy_args):
        parser.error("give either --corpus NAME or MYPY_ARGS after --")
    if args.max_workers < 1:
        parser.error("--max-workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mypy_args = args.mypy_args
    if args.corpus:
        cwd, mypy_args = corpus_args(args.corpus)
        os.chdir(cwd)
    try:
        with tempfile.TemporaryDirectory(prefix="simulate-cache-") as scratch:
            plan, model, load_seconds = load_plan(mypy_args, scratch)
    except CompileError as error:
        print("\n".join(error.messages), file=sys.stderr)
        print("simulate.py: the project cannot be loaded (see above)", file=sys.stderr)
        return 2
    measured = measured_count(model, plan)
    if fill_missing_sizes(plan.graph):
        print("note: the engine left size hints at 0 (cold graph); estimates use file sizes", file=sys.stderr)
    rate = args.rate if args.rate is not None else model.rate(plan.graph) if measured else UNMEASURED_RATE
    serial = load_seconds if args.serial_start is None else args.serial_start
    overheads = Overheads(serial, args.worker_start, args.task_overhead)
    print(
        f"costs: {measured} modules measured ({model.path or 'no cost file: cache disabled'}), "
        f"{len(plan.graph) - measured} estimated from size at {rate * 1e6:.3f} s/MB; "
        f"graph loaded in {load_seconds:.2f} s"
    )
    print(report(plan, model.scc_costs(plan, rate), overheads, args.max_workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
