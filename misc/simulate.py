"""Predict a cold parallel build's wall time for 1..N workers with our scheduler.

    python misc/simulate.py --corpus selfcheck [--max-workers 16] [--trace FILE]
    python misc/simulate.py [options] -- MYPY_ARGS...     # in the project's folder

The project's graph is loaded and cut into SCCs exactly as mypy-split does
(through the engine, no checking), each SCC gets a cost per phase, and
`sim_core.simulate` replays the build through the real `ParallelScheduler`
for each worker count: without overheads and with them, each with and
without sharing big SCCs' bodies (the coordinator's own `SharedScc` rules),
and with the coordinator's send-ahead and batches (no round trip for a small task
queued behind a worker's task about to end).  Printed
per N: the ideal bounds (serial start + max(total work / N, critical path);
with sharing, a chain ends in an SCC's largest body), the simulated wall
times, the efficiency of the realistic one against the bound, and the
speedup over one process checking everything in order.

With `--trace FILE` (written by `mypy-split --trace FILE` on the same project
and flags, cold), the SCCs' costs and the overheads are the ones that run
measured (`sim_trace.py`), and its wall time is printed beside the
prediction for its worker count.  A traced run with no cost file before it
decided by size estimates, not by the costs it went on to measure: the
`cold` column replays that (`sim_report.py`), and is the one to compare
with `perf_compare.py`'s cold runs (an empty cache has no cost file).

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
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This checkout's scheduler, and our neighbours, also under PYTHONSAFEPATH.
sys.path[:0] = [str(HERE.parent), str(HERE)]

import mypy.main  # noqa: E402
from mypy.build import MIN_SIZE_HINT, Graph  # noqa: E402
from mypy.errors import CompileError  # noqa: E402
from mypy.fscache import FileSystemCache  # noqa: E402

from mypy_split import engine, phases  # noqa: E402
from mypy_split.costs import CostModel  # noqa: E402
from mypy_split.graph import BuildPlan, load_graph, plan_sccs  # noqa: E402
from mypy_split.schedule import PhaseCost  # noqa: E402
from mypy_split.sharing import share_min_seconds  # noqa: E402
from mypy_split.tuning import (  # noqa: E402
    BATCH_SECONDS,
    BATCH_VARIABLE,
    SEND_AHEAD_SECONDS,
    SEND_AHEAD_VARIABLE,
    seconds_from_environment,
)
from sim_core import Overheads, Sharing  # noqa: E402
from sim_report import Estimates, Measured, compare_measured, describe, table  # noqa: E402
from sim_trace import (  # noqa: E402
    TraceError,
    TraceMeasures,
    TraceSpan,
    measure,
    misplaced,
    read_trace,
    renumbered,
)

# Seconds per weighted byte (`costs.SizeWeights`) when nothing was measured:
# the self-check's graph (806 modules with typeshed, 10.7 MB, 12.9 MB
# weighted) at the 4.3 s of phase work measured for it in issue 4 (compiled
# engine, 2-core machine).
UNMEASURED_RATE = 3.3e-7
# Overheads without a trace: seconds to start a worker, loading per task,
# and a worker's idle round trip between tasks (the median gap between one
# task's end and the next one's start in traces of the self-check, 2 cores).
WORKER_START = 0.25
PER_TASK = 0.0005
ROUND_TRIP = 0.0015


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


# ---------------------------------------------------------------- sharing


def shareable_bodies(
    plan: BuildPlan, model: CostModel, rate: float, costs: Mapping[int, PhaseCost]
) -> dict[int, dict[str, float]]:
    """Per SCC the coordinator may share, its modules' body seconds in check order.

    Split as the cost model splits them, scaled to add up to the SCC's
    implementation cost (measured in a trace, the SCC's total is known
    better than its modules').  One-piece SCCs have no separate bodies.
    """
    result: dict[int, dict[str, float]] = {}
    for scc in plan.sccs:
        if len(scc.mod_ids) < 2 or phases.needs_one_piece(scc, plan.graph):
            continue
        order = phases.order_in_scc(scc, plan.graph)
        estimates = {m: model.module_cost(m, plan.graph, rate).implementation for m in order}
        estimated = sum(estimates.values())
        target = costs[scc.id].implementation
        if estimated > 0:
            result[scc.id] = {m: cost * target / estimated for m, cost in estimates.items()}
        else:
            result[scc.id] = {m: target / len(order) for m in order}
    return result


def cold_estimates(plan: BuildPlan, sharing: Sharing | None) -> Estimates:
    """What the coordinator of a run with no recorded costs decides by: its size estimates."""
    blank = CostModel({}, None)
    bodies = {}
    for scc_id in sharing.bodies if sharing is not None else ():
        order = phases.order_in_scc(plan.scc(scc_id), plan.graph)
        bodies[scc_id] = blank.bodies_and_interface(order, plan.graph)[0]
    return Estimates(blank.scc_costs(plan), bodies)


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
    parser.add_argument("--trace", help="costs and overheads from this `mypy-split --trace` file of the project")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--serial-start", type=float, help="seconds before any SCC runs (default: measured)")
    parser.add_argument(
        "--worker-start", type=float, help=f"seconds to start a worker (default: traced, else {WORKER_START})"
    )
    parser.add_argument(
        "--task-overhead", type=float,
        help=f"seconds of loading per task (default: traced, else {PER_TASK})",
    )
    parser.add_argument(
        "--round-trip", type=float,
        help=f"a worker's idle seconds between tasks (default: traced, else {ROUND_TRIP})",
    )
    parser.add_argument(
        "--send-ahead", type=float, default=seconds_from_environment(SEND_AHEAD_VARIABLE, SEND_AHEAD_SECONDS),
        help="the coordinator's send-ahead limit in seconds, 0 for none (default: its own)",
    )
    parser.add_argument(
        "--batch", type=float, default=seconds_from_environment(BATCH_VARIABLE, BATCH_SECONDS),
        help="the coordinator's batch limit in seconds, 0 for no batches (default: its own)",
    )
    parser.add_argument(
        "--share-min", type=float, default=share_min_seconds(),
        help="the coordinator's minimum share of a shared SCC's bodies, seconds (default: its own)",
    )
    parser.add_argument("--no-sharing", action="store_true", help="leave the sharing columns out")
    parser.add_argument(
        "--head-start",
        type=float,
        help="seconds after which the first worker starts the builtins cycle ahead of the graph (default: traced)",
    )
    parser.add_argument("--no-head-start", action="store_true", help="model no head start, whatever the trace shows")
    parser.add_argument(
        "--rate", type=float,
        help=f"estimate's seconds per weighted byte (default: the measured modules' rate, else {UNMEASURED_RATE})",
    )
    parser.add_argument("mypy_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.mypy_args[:1] == ["--"]:
        args.mypy_args = args.mypy_args[1:]
    if not args.corpus and not args.mypy_args:
        parser.error("give --corpus NAME or MYPY_ARGS after -- (with a corpus, they are added to its own)")
    if args.max_workers < 1:
        parser.error("--max-workers must be at least 1")
    if args.share_min <= 0 and not args.no_sharing:
        parser.error("--share-min must be positive (forced sharing is not modelled)")
    return args


def choose_overheads(args: argparse.Namespace, trace: TraceMeasures | None, load_seconds: float) -> Overheads:
    """The command line's overheads, else the trace's, else the defaults (the graph loaded here)."""

    def pick(given: float | None, traced: float, default: float) -> float:
        if given is not None:
            return given
        return traced if trace is not None else default

    return Overheads(
        serial_start=pick(args.serial_start, trace.serial_start if trace else 0.0, load_seconds),
        worker_start=pick(args.worker_start, trace.worker_start if trace else 0.0, WORKER_START),
        per_task=pick(args.task_overhead, trace.per_task if trace else 0.0, PER_TASK),
        round_trip=pick(args.round_trip, trace.round_trip if trace else 0.0, ROUND_TRIP),
        send_ahead=args.send_ahead,
        batch=args.batch,
        head_start=None if args.no_head_start else pick_head_start(args.head_start, trace),
    )


def pick_head_start(given: float | None, trace: TraceMeasures | None) -> float | None:
    if given is not None:
        return given
    return trace.head_start if trace is not None else None


def read_measures(path: str | None) -> tuple[TraceMeasures, list[TraceSpan]] | None:
    if path is None:
        return None
    spans = read_trace(path)
    trace = measure(spans)
    print(
        f"trace: {trace.workers} workers, {trace.tasks} tasks ({trace.helpers} helping), "
        f"{len(trace.costs)} SCCs measured, {trace.wall:.2f} s wall; "
        f"round trip {trace.round_trip * 1000:.2f} ms (median of {trace.gaps} gaps between tasks; "
        f"mean {trace.mean_gap * 1000:.2f} ms, with waits for work)"
        + (
            f", {trace.chunk_round_trip * 1000:.2f} ms between chunks of shared bodies"
            if trace.chunk_round_trip is not None
            else ""
        )
    )
    return trace, spans


def traced_costs(plan: BuildPlan, traced: tuple[TraceMeasures, list[TraceSpan]] | None) -> dict[int, PhaseCost]:
    """The trace's SCC costs, if its SCC ids are this plan's (else none, with a note why)."""
    if traced is None:
        return {}
    spans = renumbered(traced[1], plan.nodes)
    trace = measure(spans)
    wrong = misplaced(plan.nodes, spans)
    unknown = set(trace.costs) - {node.id for node in plan.nodes}
    if wrong or unknown:
        print(
            f"note: the trace's SCC ids are not this plan's ({wrong} SCCs would have started before a "
            f"dependency, {len(unknown)} unknown): its SCC costs are left out, its overheads kept. The engine "
            "numbers SCCs by string hashes: trace and simulate with the same PYTHONHASHSEED, or use the "
            "cost file the traced run left in its cache folder (--cache-dir in MYPY_ARGS)",
            file=sys.stderr,
        )
        return {}
    return trace.costs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mypy_args = args.mypy_args
    try:
        traced = read_measures(args.trace)
    except TraceError as error:
        print(f"simulate.py: {error}", file=sys.stderr)
        return 2
    if args.corpus:
        cwd, corpus_mypy_args = corpus_args(args.corpus)
        mypy_args = [*corpus_mypy_args, *mypy_args]
        os.chdir(cwd)
    try:
        with tempfile.TemporaryDirectory(prefix="simulate-cache-") as scratch:
            plan, model, load_seconds = load_plan(mypy_args, scratch)
    except CompileError as error:
        print("\n".join(error.messages), file=sys.stderr)
        print("simulate.py: the project cannot be loaded (see above)", file=sys.stderr)
        return 2
    trace = traced[0] if traced else None
    from_trace = traced_costs(plan, traced)
    measured = measured_count(model, plan)
    if fill_missing_sizes(plan.graph):
        print("note: the engine left size hints at 0 (cold graph); estimates use file sizes", file=sys.stderr)
    rate = args.rate if args.rate is not None else model.rate(plan.graph) if measured else UNMEASURED_RATE
    costs = model.scc_costs(plan, rate)
    costs.update(from_trace)
    print(
        f"costs: {len(from_trace)} SCCs from the trace, {measured} modules measured "
        f"({model.path or 'no cost file: cache disabled'}), the rest estimated from size (weighted by kind "
        f"and phase) at {rate * 1e6:.3f} s per weighted MB; graph loaded in {load_seconds:.2f} s"
    )
    overheads = choose_overheads(args, trace, load_seconds)
    sharing = None if args.no_sharing else Sharing(shareable_bodies(plan, model, rate, costs), args.share_min)
    shape = describe(plan.nodes, costs, overheads, sharing)
    print("\n".join([f"{len(plan.graph)} modules in {shape[0]}", *shape[1:]]))
    # A traced cold run decided by size estimates unless a cost file was there before it.
    estimates = cold_estimates(plan, sharing) if from_trace and not measured else None
    if trace is not None and from_trace:
        measured_run = Measured(trace.workers, trace.wall)
        print(compare_measured(plan.nodes, costs, overheads, sharing, measured_run, estimates))
    print()
    print(table(plan.nodes, costs, overheads, sharing, args.max_workers, estimates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
