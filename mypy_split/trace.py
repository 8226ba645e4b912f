"""Where the time goes: spans of work per process, a Chrome trace, a stats summary.

Every process measures its own spans with `time.monotonic()`, which is one
clock for all processes of a machine, so the coordinator can put workers'
spans next to its own without translation.  Row 0 is the coordinator, row
i + 1 worker i.

`--trace FILE` writes the spans as Chrome trace-event JSON (open it in
Perfetto or chrome://tracing); `--stats` prints a few lines on stderr: tasks,
busy share per worker, loading time, the critical path of the measured work,
and the efficiency against the ideal schedule for this worker count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from mypy_split.graph import SccNode
from mypy_split.observe import Task
from mypy_split.schedule import PhaseCost, critical_paths

if TYPE_CHECKING:
    from mypy_split.protocol import TimedSpan

COORDINATOR = 0
# Span names with a meaning for the stats (others are shown, not summed).
INTERFACE = "interface"
IMPLEMENTATION = "implementation"
WHOLE = "whole SCC"
LOAD_DEPS = "load dependencies"
# Dependencies a worker checks again in memory before a task (affinity.py).
RECHECK = "recheck dependencies"
# A worker's SCC checked again in the coordinator for mypy's wording (confirm.py).
CONFIRM = "confirm wording"
LOAD_GRAPH = "load graph"
START_UP = "start-up"
# A worker's garbage collection before a task (not near the build's end).
COLLECT = "collect garbage"
WORK = frozenset({INTERFACE, IMPLEMENTATION, WHOLE, LOAD_DEPS, RECHECK, "parse"})





@dataclass(frozen=True)
class Span:
    name: str
    row: int
    start: float
    end: float
    args: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.end - self.start


def worker_row(index: int) -> int:
    return index + 1


class Recorder:
    """Collects spans for one run; cheap enough to be always on."""

    def __init__(self, workers: int = 0) -> None:
        self.started = time.monotonic()
        # Each SCC's first module: SCC ids change with the string hash seed, names do not.
        self.scc_names: dict[int, str] = {}
        self.finished: float | None = None
        self.workers = workers
        self.spans: list[Span] = []

    def add(self, name: str, row: int, start: float, end: float, **args: str | int | float) -> None:
        self.spans.append(Span(name, row, start, end, args))

    @contextmanager
    def measure(self, name: str, row: int = COORDINATOR, **args: str | int | float) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, row, start, time.monotonic(), **args)

    def add_from_worker(self, index: int, spans: Sequence[TimedSpan], **args: str | int | float) -> None:
        for name, start, end in spans:
            self.add(name, worker_row(index), start, end, **args)

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.monotonic()

    # -- outputs ----------------------------------------------------------------

    def chrome_trace(self) -> dict[str, object]:
        """The trace-event JSON object (complete events, microseconds)."""
        rows = sorted({COORDINATOR, *(span.row for span in self.spans)})
        events: list[dict[str, object]] = [
            {
                "name": "thread_name",
                "ph": "M",
                "pid": 1,
                "tid": row,
                "args": {"name": "coordinator" if row == COORDINATOR else f"worker {row - 1}"},
            }
            for row in rows
        ]
        for span in sorted(self.spans, key=lambda span: (span.row, span.start)):
            events.append(
                {
                    "name": span.name,
                    "cat": "coordinator" if span.row == COORDINATOR else "worker",
                    "ph": "X",
                    "pid": 1,
                    "tid": span.row,
                    "ts": round((span.start - self.started) * 1e6, 1),
                    "dur": round(span.seconds * 1e6, 1),
                    "args": self.span_args(span),
                }
            )
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def span_args(self, span: Span) -> dict[str, str | int | float]:
        args = dict(span.args)
        scc_id = args.get("scc")
        if isinstance(scc_id, int) and scc_id in self.scc_names:
            args["module"] = self.scc_names[scc_id]
        return args

    def write_chrome_trace(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(self.chrome_trace(), stream)

    def summary(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> Stats:
        """The numbers behind `--stats`; `costs` are this run's measured SCCs."""
        self.finish()
        assert self.finished is not None
        wall = self.finished - self.started
        busy: dict[int, float] = {}
        for span in self.spans:
            if span.row != COORDINATOR and span.name in WORK:
                busy[span.row] = busy.get(span.row, 0.0) + span.seconds
        tasks = sum(1 for span in self.spans if span.name in (INTERFACE, WHOLE))
        loading = sum(span.seconds for span in self.spans if span.name == LOAD_DEPS)
        rechecks = [span.seconds for span in self.spans if span.name == RECHECK]
        confirms = [span.seconds for span in self.spans if span.name == CONFIRM]
        first_work = min((span.start for span in self.spans if span.name in WORK), default=self.finished)
        serial_start = max(0.0, first_work - self.started)
        work = sum(cost.interface + cost.implementation for cost in costs.values())
        measured = [node for node in nodes if node.id in costs]
        paths = critical_paths(nodes, self.chain_costs(nodes, costs)) if measured else {}
        critical = max(paths.values(), default=0.0)
        executors = max(self.workers, 1)
        ideal = serial_start + max(work / executors, critical)
        return Stats(
            wall=wall,
            tasks=tasks,
            busy={row - 1: seconds / wall if wall > 0 else 0.0 for row, seconds in sorted(busy.items())},
            loading=loading,
            rechecks=len(rechecks),
            recheck_seconds=sum(rechecks),
            confirms=len(confirms),
            confirm_seconds=sum(confirms),
            serial_start=serial_start,
            work=work,
            critical_path=critical,
            ideal=ideal,
            executors=executors,
        )

    def chain_costs(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> dict[int, PhaseCost]:
        """Each SCC's phases as a chain of work sees them.

        The bodies of a shared SCC are checked in chunks, by several
        processes at once where helpers joined: on a chain they take as
        long as the longest chunk (the ideal's unlimited helpers), not their
        sum, which would put the ideal above what the run achieved.
        """
        chunks: dict[int, list[float]] = {}
        for span in self.spans:
            scc_id = span.args.get("scc")
            if span.name == IMPLEMENTATION and isinstance(scc_id, int):
                chunks.setdefault(scc_id, []).append(span.seconds)
        zero = PhaseCost(0.0, 0.0)
        result = {}
        for node in nodes:
            cost = costs.get(node.id, zero)
            spans = chunks.get(node.id, [])
            if len(spans) > 1:
                cost = PhaseCost(cost.interface, min(cost.implementation, max(spans)))
            result[node.id] = cost
        return result


class TraceObserver:
    """Records a build's spans from observer events, for --trace and --stats.

    Workers' spans come with their own timestamps; in-process tasks are
    timed here, on the coordinator's row.
    """

    PHASE_SPANS = {"interface": INTERFACE, "implementation": IMPLEMENTATION, "whole": WHOLE, "confirm": CONFIRM}

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.nodes: list[SccNode] = []
        self.costs: dict[int, PhaseCost] = {}
        self.running: dict[tuple[int, str], float] = {}

    def build_planned(self, modules: int, sccs: int, workers: int) -> None:
        self.recorder.workers = workers
        self.recorder.add("load graph and plan", COORDINATOR, self.recorder.started, time.monotonic())

    def scc_fresh(self, scc_id: int, modules: int) -> None:
        pass

    def task_started(self, task: Task) -> None:
        if task.worker is None:
            self.running[task.scc_id, task.phase] = time.monotonic()

    def task_finished(self, task: Task, ok: bool) -> None:
        started = self.running.pop((task.scc_id, task.phase), None)
        if started is not None:
            name = self.PHASE_SPANS.get(task.phase, task.phase)
            self.recorder.add(name, COORDINATOR, started, time.monotonic(), scc=task.scc_id)

    def worker_spans(self, worker: int, scc_id: int | None, spans: Sequence[TimedSpan]) -> None:
        if scc_id is None:
            self.recorder.add_from_worker(worker, spans)
        else:
            self.recorder.add_from_worker(worker, spans, scc=scc_id)

    def build_measured(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> None:
        self.nodes = list(nodes)
        self.costs = dict(costs)
        self.recorder.scc_names = {node.id: min(node.modules) for node in nodes if node.modules}

    def before_output(self) -> None:
        pass

    def build_finished(self) -> None:
        self.recorder.finish()

    def stats(self) -> Stats:
        return self.recorder.summary(self.nodes, self.costs)


@dataclass(frozen=True)
class Stats:
    wall: float
    tasks: int
    busy: dict[int, float]
    loading: float
    # Tasks whose worker first checked dependencies again in memory, and the time it took.
    rechecks: int
    recheck_seconds: float
    # Workers' SCCs checked again in the coordinator for mypy's wording, and the time it took.
    confirms: int
    confirm_seconds: float
    serial_start: float
    work: float
    critical_path: float
    ideal: float
    executors: int

    @property
    def efficiency(self) -> float:
        return self.ideal / self.wall if self.wall > 0 else 1.0

    def write(self, stream: TextIO) -> None:
        busy = ", ".join(f"w{index} {share:.0%}" for index, share in self.busy.items()) or "none"
        stream.write(
            f"mypy-split stats: {self.wall:.2f} s wall, {self.tasks} tasks, "
            f"{self.executors} executor{'s' if self.executors != 1 else ''}\n"
            f"  busy: {busy}\n"
            f"  serial start {self.serial_start:.2f} s, checking work {self.work:.2f} s, "
            f"dependency loading {self.loading:.2f} s, "
            f"checked again in memory {self.recheck_seconds:.2f} s ({self.rechecks} tasks), "
            f"confirmed here {self.confirm_seconds:.2f} s ({self.confirms} SCCs)\n"
            f"  critical path {self.critical_path:.2f} s, ideal {self.ideal:.2f} s, "
            f"efficiency {self.efficiency:.0%}\n"
        )
        stream.flush()
