"""The cost model: how long each module's two phases took last time.

Each run records the seconds its checked SCCs spent in the interface and the
implementation phase, shared among an SCC's modules by size, and saves them
next to the cache (`mypy_split_costs.json` in the cache folder of the Python
version) for the next run's scheduler.  A module never measured is estimated
from its size, weighted by what kind of file it is (`SizeWeights`), at the
rate the measured ones show, so both kinds compare.

The file is advisory: a missing, foreign or damaged one means estimates, and
concurrent runs replace it whole (write to a temporary name, then rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple, TypeAlias

from mypy.build import SCC, Graph, State
from mypy.options import Options

from mypy_split.graph import BuildPlan
from mypy_split.schedule import PhaseCost

COST_FILE = "mypy_split_costs.json"
COST_FILE_VERSION = 1
# Seconds per weighted byte (a byte of function bodies of a checked module)
# when nothing was measured yet: about what the compiled engine needs;
# measured runs replace it with their own rate.
DEFAULT_RATE = 1e-6

# A file's stat, None where it cannot be taken.
Stat: TypeAlias = Callable[[str], "os.stat_result | None"]


class SizeWeights(NamedTuple):
    """What a byte of one kind of file costs in each phase, in bytes of checked function bodies."""

    interface: float
    implementation: float
    # Per module, whatever its size (the phases' fixed work), in the same unit.
    fixed_interface: float = 0.0


# Fitted to the phases traced on cold runs of the self-check and textual (2, 8
# and 16 workers): a stub is all declarations, and checking them (overloads,
# protocols) costs more per byte than anything else; a module whose errors are
# ignored (an installed package followed silently) has its function bodies
# dropped by the parser; a checked module spends about three quarters of its
# time in bodies.  Sizes alone put a big cycle's bodies at a third of their
# cost beside the standard library's stubs, and one helper joined where three
# would pay.
STUB_WEIGHTS = SizeWeights(interface=1.2, implementation=0.04)
IGNORED_WEIGHTS = SizeWeights(interface=0.4, implementation=0.04)
SOURCE_WEIGHTS = SizeWeights(interface=0.3, implementation=1.0, fixed_interface=2000.0)


def cost_file(options: Options) -> str | None:
    if options.cache_dir == os.devnull or not options.incremental:
        return None
    major, minor = options.python_version
    return os.path.join(options.cache_dir, f"{major}.{minor}", COST_FILE)


class CostModel:
    """Recorded phase seconds per module, plus what this run measures."""

    def __init__(
        self, recorded: dict[str, PhaseCost], path: str | None, stat: Stat | None = None
    ) -> None:
        self.recorded = recorded
        self.path = path
        self.measured: dict[str, PhaseCost] = {}
        self.sizes: dict[str, int] = {}
        # The engine's cached stat, where there is one: module finding took it
        # already, and a cold run of small modules would stat each file again.
        self.stat = stat
        # The rate of the graph last asked about: it depends on nothing else.
        self._rate: tuple[Graph, float] | None = None

    @classmethod
    def load(cls, options: Options, stat: Stat | None = None) -> CostModel:
        path = cost_file(options)
        return cls(read_costs(path) if path else {}, path, stat)

    # -- estimates --------------------------------------------------------------

    def scc_costs(self, plan: BuildPlan, rate: float | None = None) -> dict[int, PhaseCost]:
        """Expected phase seconds of every SCC of the plan (unmeasured modules at
        `rate` seconds per byte, by default the measured modules' rate)."""
        if rate is None:
            rate = self.rate(plan.graph)
        return {scc.id: self.scc_cost(scc, plan.graph, rate) for scc in plan.sccs}

    def scc_cost(self, scc: SCC, graph: Graph, rate: float | None = None) -> PhaseCost:
        """Expected phase seconds of one SCC (see `scc_costs`)."""
        if rate is None:
            rate = self.rate(graph)
        interface = implementation = 0.0
        for module_id in scc.mod_ids:
            cost = self.module_cost(module_id, graph, rate)
            interface += cost.interface
            implementation += cost.implementation
        return PhaseCost(interface, implementation)

    def module_cost(self, module_id: str, graph: Graph, rate: float) -> PhaseCost:
        known = self.recorded.get(module_id)
        if known is not None:
            return known
        interface, implementation = self.weighted_size(graph[module_id])
        return PhaseCost(interface * rate, implementation * rate)

    def bodies_and_interface(self, module_ids: list[str], graph: Graph) -> tuple[dict[str, float], float]:
        """Expected seconds of each module's bodies, in the given order, and of the modules' interface phase."""
        rate = self.rate(graph)
        costs = {module_id: self.module_cost(module_id, graph, rate) for module_id in module_ids}
        return {m: cost.implementation for m, cost in costs.items()}, sum(cost.interface for cost in costs.values())

    def rate(self, graph: Graph) -> float:
        """Seconds per byte of source, from the modules measured before."""
        if self._rate is not None and self._rate[0] is graph:
            return self._rate[1]
        seconds = size = 0.0
        for module_id, cost in self.recorded.items():
            state = graph.get(module_id)
            if state is not None:
                seconds += cost.interface + cost.implementation
                size += sum(self.weighted_size(state))
        rate = seconds / size if seconds > 0 and size > 0 else DEFAULT_RATE
        self._rate = (graph, rate)
        return rate

    def weighted_size(self, state: State) -> PhaseCost:
        """A module's size in each phase, in weighted bytes (see `SizeWeights`)."""
        size = self.module_size(state)
        weights = size_weights(state)
        return PhaseCost(size * weights.interface + weights.fixed_interface, size * weights.implementation)

    def module_size(self, state: State) -> int:
        """Bytes of a module's source: as its cache entry records them, else as the file has them.

        A warm run reads the recorded size (no file to stat); an estimate may
        use the size of the version last checked.
        """
        if state.meta is not None:
            return state.meta.size
        return self.source_size(state.path)

    def source_size(self, path: str | None) -> int:
        """Bytes of a module's source (the engine's size hint is 0 for modules
        parsed without a cache entry, exactly the ones that need an estimate)."""
        if path is None:
            return 0
        size = self.sizes.get(path)
        if size is None:
            size = self.stat_size(path)
            self.sizes[path] = size
        return size

    def stat_size(self, path: str) -> int:
        if self.stat is not None:
            stat = self.stat(path)
            return 0 if stat is None else stat.st_size
        try:
            return os.stat(path).st_size
        except OSError:
            return 0

    # -- measurements -----------------------------------------------------------

    def measured_scc_costs(self, plan: BuildPlan) -> dict[int, PhaseCost]:
        """This run's measured phase seconds of the SCCs it checked."""
        costs = {}
        for scc in plan.sccs:
            measured = [self.measured[m] for m in scc.mod_ids if m in self.measured]
            if measured:
                costs[scc.id] = PhaseCost(
                    sum(cost.interface for cost in measured), sum(cost.implementation for cost in measured)
                )
        return costs

    def record(self, module_ids: Iterable[str], graph: Graph, interface: float, implementation: float) -> None:
        """One SCC's measured phases, each shared among its modules by their weighted sizes."""
        modules = sorted(module_ids)
        weighted = [self.weighted_size(graph[module_id]) for module_id in modules]
        interfaces = shares([size.interface for size in weighted])
        implementations = shares([size.implementation for size in weighted])
        for module_id, interface_share, implementation_share in zip(modules, interfaces, implementations):
            self.measured[module_id] = PhaseCost(interface * interface_share, implementation * implementation_share)

    def save(self) -> None:
        """Merge this run's measurements into the file (best effort)."""
        if self.path is None or not self.measured:
            return
        # This run holds the cache lock: the file still holds what `load` read.
        write_costs(self.path, {**self.recorded, **self.measured})


def size_weights(state: State) -> SizeWeights:
    path = state.path
    if path is not None and path.endswith(".pyi"):
        return STUB_WEIGHTS
    if state.ignore_all or state.options.ignore_errors:
        return IGNORED_WEIGHTS
    return SOURCE_WEIGHTS


def shares(sizes: list[float]) -> list[float]:
    """Each size's fraction of the total (equal fractions when all are empty)."""
    total = sum(sizes)
    if total <= 0:
        return [1 / len(sizes)] * len(sizes)
    return [size / total for size in sizes]


def read_costs(path: str) -> dict[str, PhaseCost]:
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != COST_FILE_VERSION:
        return {}
    modules = data.get("modules")
    if not isinstance(modules, dict):
        return {}
    costs = {}
    for module_id, entry in modules.items():
        try:
            costs[module_id] = PhaseCost(float(entry["interface"]), float(entry["implementation"]))
        except (TypeError, KeyError, ValueError):
            continue
    return costs


def write_costs(path: str, costs: dict[str, PhaseCost]) -> None:
    data = {
        "version": COST_FILE_VERSION,
        "modules": {
            module_id: {"interface": round(cost.interface, 6), "implementation": round(cost.implementation, 6)}
            for module_id, cost in sorted(costs.items())
        },
    }
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".costs-", dir=folder)
    except OSError:
        # A read-only or vanished cache folder costs only the estimates.
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(data, separators=(",", ":")))
        os.replace(temporary, path)
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass


class LazyCosts(Mapping[int, PhaseCost]):
    """Each SCC's cost computed on first use: a run that finds every SCC fresh needs none,
    and one with a single stale leaf needs one."""

    def __init__(self, model: CostModel, plan: BuildPlan) -> None:
        self._model = model
        self._plan = plan
        self._costs: dict[int, PhaseCost] = {}

    def __getitem__(self, scc_id: int) -> PhaseCost:
        cost = self._costs.get(scc_id)
        if cost is None:
            cost = self._costs[scc_id] = self._model.scc_cost(self._plan.scc(scc_id), self._plan.graph)
        return cost

    def __iter__(self) -> Iterator[int]:
        return (scc.id for scc in self._plan.sccs)

    def __len__(self) -> int:
        return len(self._plan.sccs)
