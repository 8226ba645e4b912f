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
MYPY_CACHE_DIR), else an estimate from the size of the module's source.  The
serial start is what loading the graph on an empty cache took here (as in a
cold build), unless given.  Only cold builds are simulated: every SCC stale.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This checkout's scheduler, and our neighbours, also under PYTHONSAFEPATH.
sys.path[:0] = [str(HERE.parent), str(HERE)]

import mypy.main  # noqa: E402
from mypy.build import Graph  # noqa: E402
from mypy.errors import CompileError  # noqa: E402
from mypy.fscache import FileSystemCache  # noqa: E402
from mypy.options import Options  # noqa: E402

from mypy_split import engine  # noqa: E402
from mypy_split.graph import BuildPlan, load_graph, plan_sccs  # noqa: E402
from sim_core import PhaseCost, Overheads, critical_path, ideal, simulate  # noqa: E402

COST_FILE = "mypy_split_costs.json"
COST_FILE_VERSION = 1


# ---------------------------------------------------------------- costs


@dataclass(frozen=True)
class SizeModel:
    """Seconds per source line, split into the two phases.

    The defaults come from the self-check on the 2-core machine (176k lines,
    about 1.7 s of interface and 2.6 s of implementation work): rough, and
    only until measured costs are recorded.
    """

    seconds_per_line: float = 25e-6
    interface_share: float = 0.4
    per_module: float = 0.0005

    def estimate(self, lines: int, stub: bool = False) -> PhaseCost:
        work = self.per_module + lines * self.seconds_per_line
        if stub:
            # A stub is all interface: no bodies to check.
            return PhaseCost(work * self.interface_share, 0.0)
        return PhaseCost(work * self.interface_share, work * (1 - self.interface_share))


def cost_file(options: Options) -> Path:
    major, minor = options.python_version
    return Path(options.cache_dir) / f"{major}.{minor}" / COST_FILE


def read_recorded_costs(path: Path) -> dict[str, PhaseCost]:
    """Measured per-module costs from a previous run, or {} (with a note why)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        print(f"note: ignoring {path}: {error}", file=sys.stderr)
        return {}
    if not isinstance(data, dict) or data.get("version") != COST_FILE_VERSION:
        print(f"note: ignoring {path}: not version {COST_FILE_VERSION}", file=sys.stderr)
        return {}
    recorded = {}
    for module_id, entry in data.get("modules", {}).items():
        try:
            recorded[module_id] = PhaseCost(float(entry["interface"]), float(entry["implementation"]))
        except (KeyError, TypeError, ValueError):
            continue  # one bad entry: that module falls back to the estimate
    return recorded


def source_lines(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path, "rb") as file:
            return file.read().count(b"\n") + 1
    except OSError:
        return 0


def module_costs(
    graph: Graph, recorded: Mapping[str, PhaseCost], model: SizeModel
) -> tuple[dict[str, PhaseCost], int]:
    """Each module's cost, and how many came from the recorded file."""
    costs = {}
    for module_id, state in graph.items():
        known = recorded.get(module_id)
        if known is None:
            stub = bool(state.path and state.path.endswith(".pyi"))
            known = model.estimate(source_lines(state.path), stub)
        costs[module_id] = known
    return costs, sum(1 for module_id in graph if module_id in recorded)


def scc_costs(plan: BuildPlan, modules: Mapping[str, PhaseCost]) -> dict[int, PhaseCost]:
    costs = {}
    for node in plan.nodes:
        total = PhaseCost(0.0, 0.0)
        for module_id in node.modules:
            total = total + modules.get(module_id, PhaseCost(0.0, 0.0))
        costs[node.id] = total
    return costs


# ---------------------------------------------------------------- the graph


def load_plan(mypy_args: list[str], scratch: str) -> tuple[BuildPlan, Path, float]:
    """Parse the arguments as mypy does, load the graph and plan SCCs.

    The graph loads on an empty cache in `scratch`, as a cold build loads it
    (parsing every module), so the time it takes is that build's serial
    start.  Returns the plan, the cost file of the real cache, and the time.
    """
    started = time.perf_counter()
    engine.tune_process()
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(mypy_args, fscache=fscache)
    costs_path = cost_file(options)
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
    return plan, costs_path, time.perf_counter() - started


# ---------------------------------------------------------------- the report


def report(
    plan: BuildPlan, costs: Mapping[int, PhaseCost], overheads: Overheads, max_workers: int
) -> str:
    nodes = plan.nodes
    total = sum(cost.total for cost in costs.values())
    interface = sum(cost.interface for cost in costs.values())
    path = critical_path(nodes, costs)
    biggest = max(nodes, key=lambda node: costs[node.id].total, default=None)
    sequential = overheads.serial_start + total
    lines = [
        f"{len(plan.graph)} modules in {len(nodes)} SCCs; work {total:.2f} s "
        f"(interface {interface:.2f} s, implementation {total - interface:.2f} s); "
        f"critical path {path:.2f} s",
    ]
    if biggest is not None:
        lines.append(
            f"biggest SCC: {len(biggest.modules)} modules, {costs[biggest.id].total:.2f} s "
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
            "critical path" if path >= total / workers else "total work",
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
    parser.add_argument("--seconds-per-line", type=float, default=SizeModel.seconds_per_line)
    parser.add_argument("--interface-share", type=float, default=SizeModel.interface_share)
    parser.add_argument("mypy_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.mypy_args[:1] == ["--"]:
        args.mypy_args = args.mypy_args[1:]
    if bool(args.corpus) == bool(args.mypy_args):
        parser.error("give either --corpus NAME or MYPY_ARGS after --")
    if args.max_workers < 1 or not 0 <= args.interface_share <= 1:
        parser.error("--max-workers must be at least 1 and --interface-share within 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mypy_args = args.mypy_args
    if args.corpus:
        cwd, mypy_args = corpus_args(args.corpus)
        os.chdir(cwd)
    try:
        with tempfile.TemporaryDirectory(prefix="simulate-cache-") as scratch:
            plan, costs_path, load_seconds = load_plan(mypy_args, scratch)
    except CompileError as error:
        print("\n".join(error.messages), file=sys.stderr)
        print("simulate.py: the project cannot be loaded (see above)", file=sys.stderr)
        return 2
    model = SizeModel(args.seconds_per_line, args.interface_share)
    recorded = read_recorded_costs(costs_path)
    modules, measured = module_costs(plan.graph, recorded, model)
    serial = load_seconds if args.serial_start is None else args.serial_start
    overheads = Overheads(serial, args.worker_start, args.task_overhead)
    print(
        f"costs: {measured} modules measured ({costs_path}), "
        f"{len(modules) - measured} estimated from size; graph loaded in {load_seconds:.2f} s"
    )
    print(report(plan, scc_costs(plan, modules), overheads, args.max_workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
