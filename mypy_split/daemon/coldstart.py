"""The daemon's first check: a whole build whose result stays in memory.

`cold_start` is the one entry point.  In-process it is mypy's daemon start:
a build in fine-grained mode whose trees and dependencies are kept.  When the
driver gives workers to a build writing a fine-grained cache (or the user
asks for `--use-fine-grained-cache`), it runs that build on our worker pool,
then loads the program back from the cache as `--use-fine-grained-cache`
does.  Modules loaded from a cache are skeletons that the engine re-checks
only when an edit reaches them, so their stored errors come back as `seeds`:
the lines to show for each such module until it is re-checked (mypy's own
daemon forgets them).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from mypy.build import BuildManager, Graph
from mypy.errors import Errors
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource
from mypy.options import Options
from mypy.util import read_py_file

from mypy_split.driver import (
    BuildOutcome,
    KeptBuild,
    Parallelism,
    build_and_keep,
    effective_workers,
    run_build,
)
from mypy_split.graph import plan_sccs
from mypy_split.output import MessageSink
from mypy_split.phases import order_in_scc
from mypy_split.schedule import Classify, SequentialLoop

# Beside the engine's per-version folders in the user's cache: the daemon's
# fine-grained cache must not meet a plain cache that lacks dependency files.
FINE_GRAINED_SUBDIR = "dmypy-split"


class CollectingSink(MessageSink):
    """Keeps the flushed lines, in order, without showing them."""

    def __init__(self, options: Options) -> None:
        super().__init__(options, io.StringIO(), io.StringIO())
        self.last_batch: list[str] = []

    def flush_errors(self, filename: str | None, new_messages: list[str], serious: bool) -> None:
        self.messages.extend(new_messages)
        if new_messages:
            self.messages_by_file[filename].extend(new_messages)
        self.last_batch = list(new_messages)


@dataclass
class ColdStart:
    """What the first check left: the kept build, the lines shown, the seeds."""

    kept: KeptBuild | None
    # Lines of the first check in the order mypy shows them (a blocker's lines
    # only, when `blocked`).
    messages: list[str]
    blocked: bool = False
    serious: bool = False
    # Module id -> lines stored for a module loaded from the cache.
    seeds: dict[str, list[str]] = field(default_factory=dict)
    # What the build printed besides error lines ("Nothing to do?!", logs).
    printed: str = ""


def cold_start(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    workers: int,
    worker_argv: list[str],
    cache_dir: str,
) -> ColdStart:
    """The first check: through the worker pool where it pays, else in-process.

    The driver says how many workers a build writing a fine-grained cache
    really gets.  With none, a build of ours in one process and then a load
    from its cache would only repeat work, so the daemon starts as mypy's
    does; with `--use-fine-grained-cache` the cache is first brought up to
    date by a whole build (the pool's if any), then loaded.
    """
    if workers > 0:
        build_options = cache_writing_options(options, cache_dir)
        parallelism = Parallelism(workers, worker_argv_for(worker_argv, cache_dir), os.getcwd())
        if options.use_fine_grained_cache or effective_workers(build_options, parallelism) > 0:
            return build_then_load(sources, options, build_options, fscache, parallelism)
    return build_in_process(sources, options, fscache)


def cache_writing_options(options: Options, cache_dir: str) -> Options:
    """A plain build's options that write the fine-grained cache a daemon loads."""
    changes: dict[str, object] = {
        "fine_grained_incremental": False,
        "use_fine_grained_cache": False,
        "cache_fine_grained": True,
        "cache_dir": cache_dir,
    }
    return options.apply_changes(changes)


def worker_argv_for(flags: list[str], cache_dir: str) -> list[str]:
    """The mypy command line a worker rebuilds the build's options from."""
    # Workers parse plain mypy flags: the daemon-only one would stop them.
    argv = [arg for arg in flags if arg != "--use-fine-grained-cache"]
    return argv + ["--cache-fine-grained", "--local-partial-types", "--cache-dir", cache_dir]


def build_in_process(sources: list[BuildSource], options: Options, fscache: FileSystemCache) -> ColdStart:
    sink = CollectingSink(options)
    printed = io.StringIO()
    kept = build_and_keep(sources, options, fscache, sink, printed, printed)
    if isinstance(kept, BuildOutcome):
        return ColdStart(None, sink.last_batch, True, kept.serious, printed=printed.getvalue())
    seeds = cached_error_lines(kept.manager, kept.graph) if kept.manager.cache_enabled else {}
    return ColdStart(kept, list(sink.messages), seeds=seeds, printed=printed.getvalue())


def build_then_load(
    sources: list[BuildSource],
    options: Options,
    build_options: Options,
    fscache: FileSystemCache,
    parallelism: Parallelism,
) -> ColdStart:
    """A (parallel) build writing a fine-grained cache, then the program loaded from it."""
    sink = CollectingSink(build_options)
    printed = io.StringIO()
    outcome = run_build(sources, build_options, fscache, sink, printed, printed, parallelism)
    if outcome.blockers:
        return ColdStart(None, sink.last_batch, True, outcome.serious, printed=printed.getvalue())
    fscache.flush()
    options.cache_dir = build_options.cache_dir
    options.cache_fine_grained = True
    options.use_fine_grained_cache = True
    loaded = build_in_process(sources, options, fscache)
    if loaded.kept is None:
        return loaded
    # What the user sees is what the build checked, in mypy's order.
    loaded.messages = list(sink.messages)
    loaded.printed = printed.getvalue() + loaded.printed
    return loaded


def cached_error_lines(manager: BuildManager, graph: Graph) -> dict[str, list[str]]:
    """The stored lines of every module loaded from the cache, formatted as mypy shows them.

    A scratch `Errors` formats them: formatting marks a file as flushed, and
    the manager's own must stay free to take that file's new errors.
    """
    scratch = Errors(
        manager.options,
        read_source=lambda path: read_py_file(path, manager.fscache.read),
        error_formatter=manager.error_formatter,
    )
    seeds: dict[str, list[str]] = {}
    for module_id in fresh_order(manager, graph):
        state = graph[module_id]
        if state.meta is None or not state.error_lines:
            continue
        path = manager.errors.simplify_path(state.xpath)
        lines = scratch.format_messages(path, state.error_lines, formatter=manager.error_formatter)
        if lines:
            seeds[module_id] = lines
    return seeds


def fresh_order(manager: BuildManager, graph: Graph) -> list[str]:
    """The modules in the order `mypy -n 0` reports them when every SCC is fresh.

    mypy's sequential loop, replayed with every SCC classified fresh: each
    round reports the ready SCCs in turn, each SCC's modules in the engine's
    order.
    """
    plan = plan_sccs(graph, manager)
    loop = SequentialLoop(plan.nodes)
    order: list[str] = []
    action = loop.start()
    while isinstance(action, Classify):
        for scc_id in action.scc_ids:
            order.extend(order_in_scc(plan.scc(scc_id), graph))
        action = loop.classified(list(action.scc_ids), [])
    return order


def is_skeleton(module_id: str, manager: BuildManager, graph: Graph) -> bool:
    """Still as loaded from the cache: the engine has not checked it in this process."""
    if module_id not in graph:
        return False
    tree = manager.modules.get(module_id)
    return tree is None or tree.is_cache_skeleton
