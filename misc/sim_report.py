"""The simulator's printout: a build's shape, then predicted wall times per worker count.

Pure: SCC nodes and costs in, text out.  Each column is one model of the
coordinator, simulated by `sim_core.simulate`:

- `sim`: no overheads but the serial start, each SCC on one worker;
- `ovh`: every overhead (worker start, loading per task, a round trip
  before each task and each chunk of shared bodies), no sharing;
- `sim sh` / `ovh sh`: the same with big SCCs' bodies shared;
- `ahead`: `ovh sh` (or `ovh` without sharing) with the coordinator's
  send-ahead: small tasks queued behind a worker's task about to end start
  with no round trip, several small ones sent together as a batch (their
  results held for the last one's).  The coordinator as it is, knowing every SCC's cost
  (as after a run that recorded them); shown when send-ahead is on.
- `cold`: `ahead` deciding by the size estimates of a run with no recorded
  costs (an empty cache): what to run first, what to share and who joins;
  the work still takes the measured time.  Shown when such estimates are
  given (`simulate.py` gives them with a trace's costs).

The bounds: `ideal` (serial start + max(total work / N, critical path)) and,
with sharing, `ideal sh`, whose chains end in an SCC's largest body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost
from mypy_split.sharing import CHUNK_SECONDS
from sim_core import Overheads, Sharing, critical_path, ideal, simulate, total


@dataclass(frozen=True)
class Model:
    """One column: a set of overheads, with or without sharing."""

    label: str
    overheads: Overheads
    sharing: Sharing | None
    # What the coordinator decides by, if not the costs themselves.
    decide_by: Mapping[int, PhaseCost] | None = None

    def run(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost], workers: int) -> float:
        return simulate(nodes, costs, workers, self.overheads, sharing=self.sharing, decide_by=self.decide_by).makespan


@dataclass(frozen=True)
class Estimates:
    """The coordinator's own estimates, without recorded costs: per SCC, and per shared SCC's body."""

    sccs: Mapping[int, PhaseCost]
    bodies: Mapping[int, Mapping[str, float]]


@dataclass(frozen=True)
class Measured:
    """A traced run to put beside the prediction for its worker count."""

    workers: int
    wall: float


def models(overheads: Overheads, sharing: Sharing | None, estimates: Estimates | None = None) -> list[Model]:
    bare = Overheads(serial_start=overheads.serial_start, head_start=overheads.head_start)
    loaded = replace(overheads, send_ahead=0.0, batch=0.0)
    columns = [Model("sim", bare, None), Model("ovh", loaded, None)]
    if sharing is not None:
        columns += [Model("sim sh", bare, sharing), Model("ovh sh", loaded, sharing)]
    if overheads.send_ahead > 0:
        columns.append(Model("ahead", overheads, sharing))
    if estimates is not None:
        guessed = None if sharing is None else replace(sharing, estimates=estimates.bodies)
        columns.append(Model("cold", overheads, guessed, estimates.sccs))
    return columns


def describe(
    nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost], overheads: Overheads, sharing: Sharing | None
) -> list[str]:
    """The build's shape: work, critical path, biggest SCC, what may be shared, the overheads."""
    work = sum(total(cost) for cost in costs.values())
    interface = sum(cost.interface for cost in costs.values())
    lines = [
        f"{len(nodes)} SCCs; work {work:.2f} s (interface {interface:.2f} s, "
        f"implementation {work - interface:.2f} s); critical path {critical_path(nodes, costs):.2f} s"
        + (f", {critical_path(nodes, costs, sharing):.2f} s with sharing" if sharing else "")
    ]
    biggest = max(nodes, key=lambda node: total(costs.get(node.id, PhaseCost(0.0, 0.0))), default=None)
    if biggest is not None:
        lines.append(f"biggest SCC: {name_scc(biggest, costs)}")
    if sharing is not None:
        shareable = [node for node in nodes if sharing.shareable(node.id)]
        lines.append(
            f"sharing (min {sharing.share_min:.2f} s a share, chunks of {CHUNK_SECONDS * 1000:.0f} ms): "
            f"{len(shareable)} SCCs qualify"
            + (f", the costliest {name_scc(max(shareable, key=lambda n: total(costs[n.id])), costs)}" if shareable else "")
        )
    lines.append(
        f"overheads: serial start {overheads.serial_start:.2f} s, worker start {overheads.worker_start:.2f} s, "
        f"loading per task {overheads.per_task * 1000:.2f} ms, round trip {overheads.round_trip * 1000:.2f} ms"
        + (f", send-ahead {overheads.send_ahead * 1000:.0f} ms" if overheads.send_ahead > 0 else "")
        + (f", batches {overheads.batch * 1000:.0f} ms" if overheads.batch > 0 and overheads.send_ahead > 0 else "")
        + (f", builtins cycle started ahead at {overheads.head_start:.2f} s" if overheads.head_start is not None else "")
        + "; "
        f"sequential (one process) {overheads.serial_start + work:.2f} s"
    )
    return lines


def name_scc(node: SccNode, costs: Mapping[int, PhaseCost]) -> str:
    cost = costs.get(node.id, PhaseCost(0.0, 0.0))
    shown = ", ".join(node.modules[:3]) + (", ..." if len(node.modules) > 3 else "")
    return (
        f"{len(node.modules)} modules, {total(cost):.2f} s "
        f"(interface {cost.interface:.2f} s) ({shown})"
    )


def table(
    nodes: Sequence[SccNode],
    costs: Mapping[int, PhaseCost],
    overheads: Overheads,
    sharing: Sharing | None,
    max_workers: int,
    estimates: Estimates | None = None,
) -> str:
    columns = models(overheads, sharing, estimates)
    realistic = columns[-1]  # Every overhead, with what the coordinator does about them.
    header = ["N", "ideal s", *(["ideal sh"] if sharing else []), *(f"{m.label} s" for m in columns)]
    rows = [[*header, "eff", "speedup", "bound by"]]
    work = sum(total(costs.get(node.id, PhaseCost(0.0, 0.0))) for node in nodes)
    sequential = overheads.serial_start + work
    # With a head start the first SCC runs before the serial start is over: the
    # bound then counts from the head start (looser, but never beaten).
    start = overheads.serial_start if overheads.head_start is None else min(overheads.serial_start, overheads.head_start)
    for workers in range(1, max_workers + 1):
        bounds = [ideal(nodes, costs, workers, start)]
        if sharing is not None:
            bounds.append(ideal(nodes, costs, workers, start, sharing))
        times = {m.label: m.run(nodes, costs, workers) for m in columns}
        path = critical_path(nodes, costs, sharing)
        rows.append([
            str(workers),
            *(f"{bound:.2f}" for bound in bounds),
            *(f"{seconds:.2f}" for seconds in times.values()),
            percent(bounds[-1], times[realistic.label]),
            f"{sequential / times[realistic.label]:.2f}x" if times[realistic.label] > 0 else "-",
            "critical path" if path >= work / workers else "total work",
        ])
    return format_table(rows)


def compare_measured(
    nodes: Sequence[SccNode],
    costs: Mapping[int, PhaseCost],
    overheads: Overheads,
    sharing: Sharing | None,
    measured: Measured,
    estimates: Estimates | None = None,
) -> str:
    """The traced run's wall time beside each model's prediction for its worker count."""
    predicted = ", ".join(
        f"{m.label} {m.run(nodes, costs, measured.workers):.2f} s"
        for m in models(overheads, sharing, estimates)
    )
    return f"measured at N={measured.workers}: {measured.wall:.2f} s wall; predicted: {predicted}"


def percent(bound: float, actual: float) -> str:
    return f"{100 * bound / actual:.0f}%" if actual > 0 else "-"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)
