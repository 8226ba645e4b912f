"""What a `mypy-split --trace FILE` run measured, as the simulator's inputs.

The trace is Chrome trace-event JSON (`mypy_split/trace.py`): row 0 is the
coordinator, row i + 1 worker i, and every span of a task carries its SCC id.
Read back here:

- each SCC's phase seconds: the interface side is what its owner (the row
  that started the SCC's interface first) spent parsing and checking top
  levels (or the whole SCC, for one-piece SCCs); the implementation is every
  row's implementation spans of it together, helpers' chunks included;
- the serial start (the coordinator's graph loading), each worker's start
  after it (until it had the graph), the loading per task (dependencies
  loaded or checked again, garbage collected first), and the round trip:
  the idle gap between one task's last span and the next task's first on
  the same worker.  Gaps also
  hold waits for work to become ready, so their median stands for the
  round trip (their mean, shown too, bounds it from above).  A run with the
  coordinator's send-ahead on has short gaps for the tasks it sent ahead:
  trace with MYPY_SPLIT_SEND_AHEAD=0 to measure the round trip itself.  The gaps between a shared task's chunks of bodies (each
  asked for and handed out) are the same kind of round trip, shown apart.

Pure apart from reading the file.  The SCC ids are those of the plan the
traced run made: the engine numbers SCCs in the iteration order of a set of
module names, so loading the same project again gives the same ids only
under the same PYTHONHASHSEED.  A trace names each SCC by its first module
too, and `renumbered` maps its spans onto another plan's ids.  `misplaced`
tells a trace of other ids: its tasks then seem to start before their
dependencies' interfaces ended.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost
from mypy_split.trace import (
    COLLECT,
    COORDINATOR,
    IMPLEMENTATION,
    INTERFACE,
    LOAD_DEPS,
    LOAD_GRAPH,
    RECHECK,
    START_UP,
    WHOLE,
)

PARSE = "parse"
GRAPH_PLANNED = "load graph and plan"
# Spans of a task's own checking work, before its implementation.
FRONT = frozenset({PARSE, INTERFACE, WHOLE})
# A task's overhead before its checking: dependencies loaded or checked again, garbage collected.
LOADING = frozenset({LOAD_DEPS, RECHECK, COLLECT})


class TraceError(Exception):
    """The file is not a trace written by `mypy-split --trace`."""


@dataclass(frozen=True)
class TraceSpan:
    name: str
    row: int
    start: float  # seconds since the run started
    end: float
    scc: int | None
    # The SCC's first module, where the trace names it (SCC ids depend on the hash seed).
    module: str | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TraceMeasures:
    """One traced run's SCC costs and overheads."""

    costs: dict[int, PhaseCost]
    workers: int
    wall: float  # to the last span's end
    serial_start: float
    worker_start: float
    # When a worker began the builtins cycle ahead of the graph (head_start.py), if it did.
    head_start: float | None
    per_task: float
    round_trip: float
    gaps: int  # how many gaps the round trip is the median of
    mean_gap: float
    chunk_round_trip: float | None  # the median gap between chunks of shared bodies, if any
    tasks: int
    helpers: int  # tasks that repeated a shared SCC's interface to help
    repeated: float  # their interface seconds


# ---------------------------------------------------------------- reading


def read_trace(path: str) -> list[TraceSpan]:
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
        events = data["traceEvents"]
        return [parse_event(event) for event in events if event.get("ph") == "X"]
    except OSError as error:
        raise TraceError(f"cannot read {path}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise TraceError(f"{path} is not a mypy-split trace ({type(error).__name__}: {error})") from error


def parse_event(event: dict[str, object]) -> TraceSpan:
    args = event.get("args") or {}
    assert isinstance(args, dict)
    scc = args.get("scc")
    module = args.get("module")
    start = float(str(event["ts"])) / 1e6
    return TraceSpan(
        name=str(event["name"]),
        row=int(str(event["tid"])),
        start=start,
        end=start + float(str(event["dur"])) / 1e6,
        scc=int(scc) if isinstance(scc, (int, float, str)) else None,
        module=module if isinstance(module, str) else None,
    )


def renumbered(spans: Sequence[TraceSpan], nodes: Sequence[SccNode]) -> list[TraceSpan]:
    """The spans with this plan's SCC ids, wherever the trace names an SCC by its first module."""
    by_module = {min(node.modules): node.id for node in nodes if node.modules}
    return [
        replace(span, scc=by_module[span.module]) if span.module in by_module else span for span in spans
    ]


# ---------------------------------------------------------------- measuring


def measure(spans: Sequence[TraceSpan]) -> TraceMeasures:
    if not spans:
        raise TraceError("the trace has no spans")
    serial = serial_start(spans)
    tasks = worker_tasks(spans)
    costs, helpers, repeated = scc_costs(spans)
    loading = [sum(s.seconds for s in task if s.name in LOADING) for row in tasks.values() for task in row]
    gaps = task_gaps(tasks)
    chunk_gaps = [gap for row in tasks.values() for task in row for gap in chunk_gaps_of(task)]
    return TraceMeasures(
        costs=costs,
        workers=len({span.row for span in spans if span.row != COORDINATOR}),
        wall=max(span.end for span in spans),
        serial_start=serial,
        worker_start=worker_start(spans, serial),
        head_start=head_start(spans, serial),
        per_task=statistics.fmean(loading) if loading else 0.0,
        round_trip=statistics.median(gaps) if gaps else 0.0,
        gaps=len(gaps),
        mean_gap=statistics.fmean(gaps) if gaps else 0.0,
        chunk_round_trip=statistics.median(chunk_gaps) if chunk_gaps else None,
        tasks=len(loading),
        helpers=helpers,
        repeated=repeated,
    )


def serial_start(spans: Iterable[TraceSpan]) -> float:
    """When the coordinator had planned the build (else when the first work began)."""
    for span in spans:
        if span.row == COORDINATOR and span.name == GRAPH_PLANNED:
            return span.end
    return min(span.start for span in spans if span.scc is not None)


def head_start(spans: Iterable[TraceSpan], serial: float) -> float | None:
    """When a task began before the coordinator had planned the build: only a head start does."""
    early = [span.start for span in spans if span.row != COORDINATOR and span.scc is not None and span.start < serial]
    return min(early) if early else None


def worker_start(spans: Sequence[TraceSpan], serial: float) -> float:
    """The median delay after the serial start until a worker was started and held the graph."""
    ready: dict[int, float] = {}
    # A worker with a head start takes the graph only after its first task: not a start-up delay.
    ahead = {span.row for span in spans if span.row != COORDINATOR and span.scc is not None and span.start < serial}
    for span in spans:
        if span.row != COORDINATOR and span.row not in ahead and span.name in (START_UP, LOAD_GRAPH):
            ready[span.row] = max(ready.get(span.row, 0.0), span.end)
    delays = [max(0.0, end - serial) for end in ready.values()]
    return statistics.median(delays) if delays else 0.0


def worker_tasks(spans: Iterable[TraceSpan]) -> dict[int, list[list[TraceSpan]]]:
    """Each worker's tasks in time order: runs of consecutive spans of one SCC."""
    rows: dict[int, list[TraceSpan]] = defaultdict(list)
    for span in spans:
        if span.row != COORDINATOR and span.scc is not None and span.name != LOAD_GRAPH:
            rows[span.row].append(span)
    tasks: dict[int, list[list[TraceSpan]]] = {}
    for row, row_spans in rows.items():
        runs: list[list[TraceSpan]] = []
        for span in sorted(row_spans, key=lambda s: s.start):
            if runs and runs[-1][-1].scc == span.scc:
                runs[-1].append(span)
            else:
                runs.append([span])
        tasks[row] = runs
    return tasks


def task_gaps(tasks: dict[int, list[list[TraceSpan]]]) -> list[float]:
    """Idle seconds between consecutive tasks of a worker (its first task comes after the graph)."""
    gaps = []
    for runs in tasks.values():
        for previous, following in zip(runs, runs[1:]):
            gaps.append(max(0.0, following[0].start - previous[-1].end))
    return gaps


def chunk_gaps_of(task: Sequence[TraceSpan]) -> list[float]:
    """Idle seconds between a task's implementation spans (one per chunk of shared bodies)."""
    bodies = [span for span in task if span.name == IMPLEMENTATION]
    return [max(0.0, following.start - previous.end) for previous, following in zip(bodies, bodies[1:])]


def scc_costs(spans: Sequence[TraceSpan]) -> tuple[dict[int, PhaseCost], int, float]:
    """Each SCC's measured phases, and the helper tasks' count and repeated interface seconds."""
    by_scc: dict[int, list[TraceSpan]] = defaultdict(list)
    for span in spans:
        if span.scc is not None and (span.name in FRONT or span.name == IMPLEMENTATION):
            by_scc[span.scc].append(span)
    costs: dict[int, PhaseCost] = {}
    helpers, repeated = 0, 0.0
    for scc_id, scc_spans in by_scc.items():
        starts = [s for s in scc_spans if s.name in (INTERFACE, WHOLE)]
        owner = min(starts, key=lambda s: s.start).row if starts else scc_spans[0].row
        front = sum(s.seconds for s in scc_spans if s.row == owner and s.name in FRONT)
        implementation = sum(s.seconds for s in scc_spans if s.name == IMPLEMENTATION)
        costs[scc_id] = PhaseCost(front, implementation)
        helper_rows = {s.row for s in starts if s.row != owner}
        helpers += len(helper_rows)
        repeated += sum(s.seconds for s in starts if s.row != owner)
    return costs, helpers, repeated


def misplaced(nodes: Sequence[SccNode], spans: Iterable[TraceSpan]) -> int:
    """How many traced SCCs started before a dependency's interface was done.

    No real run does that, so any such SCC means the trace's ids are not
    those of `nodes` (another hash seed, another project or flags).
    """
    first_start: dict[int, float] = {}
    interface_end: dict[int, float] = {}
    for span in spans:
        if span.scc is None or span.name == LOAD_GRAPH:
            continue
        first_start[span.scc] = min(first_start.get(span.scc, math.inf), span.start)
        if span.name in (INTERFACE, WHOLE):
            interface_end[span.scc] = min(interface_end.get(span.scc, math.inf), span.end)
    count = 0
    for node in nodes:
        start = first_start.get(node.id)
        # A microsecond of slack: the trace rounds to a tenth of one.
        if start is not None and any(interface_end.get(dep, -math.inf) > start + 1e-6 for dep in node.deps):
            count += 1
    return count
