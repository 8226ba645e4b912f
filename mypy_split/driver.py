"""The build driver: one whole build, from sources and options to flushed errors.

It composes engine calls in the order mypy's own build makes them (open the
build, load the graph, plan SCCs, check, write the remaining cache files,
close) and hands the checking itself to an executor.  Blocking errors end up
in the sink just as mypy's command line receives them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple, TextIO

import mypy.build
from mypy.build import BuildManager, Graph
from mypy.config_parser import get_config_module_names
from mypy.errors import CompileError
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource
from mypy.options import Options
from mypy.typestate import type_state

from mypy_split import engine, fine_grained, phases, raw_trees, worker_seed
from mypy_split.cachelock import cache_lock
from mypy_split.costs import CostModel
from mypy_split.failures import ReloadWithoutWorkers
from mypy_split.graph import load_graph, plan_sccs
from mypy_split.inprocess import run_in_process
from mypy_split.load_order import LoadOrder
from mypy_split.observe import NULL_OBSERVER
from mypy_split.output import MessageSink
from mypy_split.pool_decision import StartWhileLoading
from mypy_split.reports import all_supported as reports_supported
from mypy_split.tuning import head_start_enabled, usable_cpus, worker_seed_enabled

if TYPE_CHECKING:
    from mypy_split.pool import WorkerPool
    from mypy_split.protocol import Hello


class BuildOutcome(NamedTuple):
    """How a build ended: `blockers` if a blocking error stopped it."""

    blockers: bool
    serious: bool


class Parallelism(NamedTuple):
    """How many workers to use, and what they need to rebuild our options."""

    workers: int
    argv: list[str]
    cwd: str
    # Set for a run whose arguments disable the cache: workers share this one.
    private_cache: str | None = None
    # Set for a run with report options: workers' report pages wait there.
    report_root: str | None = None
    # No cache for this Python version yet: every SCC will be stale.
    cold_cache: bool = False
    # The cache folder's lock: workers inherit it (see cachelock.py).
    lock_fd: int | None = None


def run_build(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    sink: MessageSink,
    stdout: TextIO,
    stderr: TextIO,
    parallelism: Parallelism | None = None,
) -> BuildOutcome:
    engine.reset_process_caches()
    workers = effective_workers(options, parallelism)
    if not workers or parallelism is None:
        return build_and_report(sources, options, fscache, sink, stdout, stderr, None)
    try:
        return build_with_workers(
            sources, options, fscache, sink, stdout, stderr, parallelism._replace(workers=workers)
        )
    except ReloadWithoutWorkers:
        # A blocker mypy finds while loading the graph; nothing was shown yet
        # (see parse_gate.py): a run like mypy's own reports it in its place.
        engine.reset_process_caches()
        return build_and_report(sources, options, fscache, sink, stdout, stderr, None)


def build_with_workers(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    sink: MessageSink,
    stdout: TextIO,
    stderr: TextIO,
    parallelism: Parallelism,
) -> BuildOutcome:
    with contextlib.ExitStack() as scratch:
        if options.cache_dir == os.devnull:
            # Workers exchange interfaces through the cache: with the cache
            # disabled they get a private one, removed when the run ends.
            private_cache = scratch_folder("mypy-split-cache-", scratch)
            options.cache_dir = private_cache
            scratch.callback(setattr, options, "cache_dir", os.devnull)
            parallelism = parallelism._replace(private_cache=private_cache)
        if options.report_dirs:
            # Workers write report pages there, one folder per task (see reports.py).
            report_root = scratch_folder("mypy-split-reports-", scratch)
            parallelism = parallelism._replace(report_root=report_root)
        return build_and_report(sources, options, fscache, sink, stdout, stderr, parallelism)


def scratch_folder(prefix: str, scratch: contextlib.ExitStack) -> str:
    """A temporary folder, removed when the build ends however it ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    scratch.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def build_and_report(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    sink: MessageSink,
    stdout: TextIO,
    stderr: TextIO,
    parallelism: Parallelism | None,
) -> BuildOutcome:
    with locked_cache(options, stderr) as lock_fd:
        if parallelism is not None:
            # Asked before the build opens the cache, which creates the folder.
            cold = not os.path.isdir(cache_prefix(options))
            parallelism = parallelism._replace(lock_fd=lock_fd, cold_cache=cold)
        return build_and_report_locked(sources, options, fscache, sink, stdout, stderr, parallelism)


def locked_cache(options: Options, stderr: TextIO) -> contextlib.AbstractContextManager[int | None]:
    """The cache folder's lock for one build (concurrent runs: see cachelock.py)."""

    def log(message: str) -> None:
        if options.verbosity >= 1:
            print("LOG: ", message, file=stderr)

    return cache_lock(options, log)


def build_and_report_locked(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    sink: MessageSink,
    stdout: TextIO,
    stderr: TextIO,
    parallelism: Parallelism | None,
) -> BuildOutcome:
    manager: BuildManager | None = None
    # A build with workers may be run again without them (a blocker while the
    # graph loads): its `-v` log waits until the graph is loaded, so that a
    # run again logs only what mypy's single run would.
    log = HeldLog(stderr) if parallelism is not None and options.verbosity >= 1 else None
    reloading = False
    try:
        early_pool = start_pool_early(options, parallelism)
        try:
            manager = engine.open_build(
                sources,
                options,
                fscache=fscache,
                flush_errors=sink.flush_errors,
                stdout=stdout,
                stderr=stderr if log is None else log,
            )
        except BaseException:
            if early_pool is not None:
                early_pool.kill()
            worker_seed.retire()
            raise
        try:
            if parallelism is not None:
                # Keep import errors per file, to be replayed where the module is checked.
                manager.errors.global_watcher = True
            check_program(sources, manager, parallelism, sink, early_pool)
        except BaseException:
            # A signal (Ctrl-C, SIGTERM) before check_program's own cleanup
            # began (a pool stopped already is closed: this does nothing).
            if early_pool is not None:
                early_pool.kill()
            raise
        finally:
            try:
                engine.close_build(manager)
            finally:
                # Released by now: it has been exiting meanwhile.
                worker_seed.retire()
    except ReloadWithoutWorkers:
        reloading = True
        if manager is not None:
            manager.metastore.close()
        raise
    except CompileError as error:
        if log is not None:
            log.release()
        # The error carries every message not yet flushed, then the blocker.
        serious = not error.use_stdout
        tuples = None
        if sink.structured and manager is not None:
            tuples = phases.blocker_error_tuples(manager.errors, error.messages)
        sink.show_module(phases.ModuleErrors(None, error.messages, tuples), serious)
        return BuildOutcome(blockers=True, serious=serious)
    finally:
        if log is not None and not reloading:
            log.release()
        sink.observer.build_finished()
    manager.metastore.close()
    return BuildOutcome(blockers=False, serious=False)


class HeldLog(io.StringIO):
    """A stream's text held back until `release`, then written through."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.released = False

    def write(self, text: str) -> int:
        if self.released:
            return self.target.write(text)
        return super().write(text)

    def flush(self) -> None:
        if self.released:
            self.target.flush()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.target.write(self.getvalue())
            self.target.flush()


class KeptBuild(NamedTuple):
    """A finished in-process build left open for the daemon's fine-grained updates."""

    manager: BuildManager
    graph: Graph


def build_and_keep(
    sources: list[BuildSource],
    options: Options,
    fscache: FileSystemCache,
    sink: MessageSink,
    stdout: TextIO,
    stderr: TextIO,
) -> KeptBuild | BuildOutcome:
    """An in-process build whose manager and graph stay alive (the daemon's start).

    With `fine_grained_incremental` the engine keeps trees and fine-grained
    dependencies; with `use_fine_grained_cache` the graph is only loaded from
    a fine-grained cache, as mypy's daemon does.  A blocking error ends it
    like `build_and_report` (the outcome is returned, nothing is kept).
    """
    engine.reset_process_caches()
    try:
        # Locked while the cache is written; later updates only read from it.
        with locked_cache(options, stderr):
            manager = engine.open_build(
                sources, options, fscache=fscache, flush_errors=sink.flush_errors, stdout=stdout, stderr=stderr
            )
            try:
                graph = check_program(sources, manager, None)
            finally:
                engine.close_build(manager)
    except CompileError as error:
        serious = not error.use_stdout
        sink.flush_errors(None, error.messages, serious)
        return BuildOutcome(blockers=True, serious=serious)
    # The metastore stays open: fine-grained updates load trees from it lazily.
    return KeptBuild(manager, graph)


# `-n 1` checks in this process: one worker would do the same work plus its
# start-up, a second graph load and the messages (1.07x the CPU time).  This
# variable set to 1 makes it start a real worker all the same (the tests do).
SINGLE_WORKER_VARIABLE = "MYPY_SPLIT_SINGLE_WORKER"


def effective_workers(options: Options, parallelism: Parallelism | None) -> int:
    """Worker count for this build: 0 where only one process gives mypy's answer yet, or is faster."""
    if parallelism is None or parallelism.workers <= 0:
        return 0
    # No more workers than CPUs to run them (tuning.usable_cpus).
    workers = min(parallelism.workers, usable_cpus())
    if workers == 1 and os.environ.get(SINGLE_WORKER_VARIABLE) != "1":
        return 0
    if (
        options.fine_grained_incremental
        # Reports of types we cannot assemble from workers' entries.
        or not reports_supported(options.report_dirs)
    ):
        return 0
    return workers


def start_pool_early(options: Options, parallelism: Parallelism | None) -> WorkerPool | None:
    """Start workers before the build opens when the cache is empty.

    With no cache for this Python version every SCC will be stale, so the
    workers' start-up can overlap graph loading; otherwise they start once
    the stale work found pays (see pool_decision.py: possibly during the
    load), and a fully fresh run starts none.  Started before the build
    opens its cache and loads plugins, they can be forked from this process
    (worker_process.py): a SQLite connection must not cross a fork.  For
    the same reason the seed of workers started later, if turned on, is
    forked now (worker_seed.py); the build retires it if it was not used.
    """
    if parallelism is None or options.dump_graph:
        # `--dump-graph` prints the graph and checks nothing: a head start
        # would only write the builtins cycle's entries, where mypy writes none.
        return None
    # A second build of this process (after `--install-types`, say) may hold
    # SQLite connections of the first (the file store's records stay open).
    may_fork = not engine.cache_opened_in_this_process()
    # A build that reads no cache (reports, --no-incremental) finds every SCC stale.
    if reads_cache(options) and not parallelism.cold_cache:
        if may_fork and worker_seed_enabled():
            worker_seed.plant(inherited_fds(parallelism))
        return None
    return start_pool(
        parallelism,
        may_fork=may_fork,
        head_start=parallelism.cold_cache and head_start_allowed(options),
    )


def head_start_allowed(options: Options) -> bool:
    """Whether a worker may check the builtins cycle before the graph is loaded (head_start.py).

    Only for a plain check that reads and writes the cache (reports read
    none): fine-grained dependencies are gathered per task from the
    coordinator's graph, and a fine-grained cache decides how the graph
    loads (the load reads no meta during a head start).
    """
    return (
        head_start_enabled()
        and reads_cache(options)
        and not options.cache_fine_grained
        and not options.use_fine_grained_cache
    )


def reads_cache(options: Options) -> bool:
    """Whether the engine's build will read the cache (its `BuildManager.cache_enabled`)."""
    return bool(
        options.incremental
        and (not options.fine_grained_incremental or options.use_fine_grained_cache)
        and not options.report_dirs
    )


def start_pool(parallelism: Parallelism, may_fork: bool = False, head_start: bool = False) -> WorkerPool:
    """This run's workers, started now (they get the graph with their first task)."""
    from mypy_split.pool import WorkerPool

    hello = hello_message(parallelism)
    first = dataclasses.replace(hello, head_start=True) if head_start else None
    return WorkerPool(parallelism.workers, hello, inherited_fds(parallelism), may_fork, first)


def hello_message(parallelism: Parallelism) -> Hello:
    """The first message every worker of this run gets."""
    from mypy_split.task_messages import hello_for

    return hello_for(parallelism.argv, parallelism.cwd, parallelism.private_cache, parallelism.report_root)


def inherited_fds(parallelism: Parallelism) -> tuple[int, ...]:
    return () if parallelism.lock_fd is None else (parallelism.lock_fd,)


def cache_prefix(options: Options) -> str:
    """The cache folder of this Python version, as the engine names it."""
    major, minor = options.python_version
    return os.path.join(options.cache_dir, f"{major}.{minor}")


def check_program(
    sources: list[BuildSource],
    manager: BuildManager,
    parallelism: Parallelism | None,
    sink: MessageSink | None = None,
    early_pool: WorkerPool | None = None,
) -> Graph:
    """Everything between opening and closing a build, as mypy orders it; returns the graph.

    Errors go to the sink (or, without one, as text through the engine's
    flush callback), events to the sink's observer.  `early_pool`: workers
    started before the build opened, which this call stops if it has no
    use for them.
    """
    options = manager.options
    show = sink.show_module if sink is not None else show_through_engine(manager)
    observer = sink.observer if sink is not None else NULL_OBSERVER
    starter = None
    # Modules a single process would hold trees for; None: this process checked.
    with_trees: set[str] | None = None
    try:
        mypy.build.log_configuration(manager, sources)
        costs = CostModel.load(options, stat=manager.get_stat)
        # Workers build the trees they check from the bytes this process keeps.
        keep_raw = parallelism is not None and raw_trees.keeps_raw_trees(manager)
        if keep_raw and parallelism is not None and early_pool is None:
            starter = StartWhileLoading(functools.partial(start_pool, parallelism), costs.recorded, costs.source_size)
        load_order = LoadOrder(starter.parsed if starter is not None else None) if keep_raw else None
        # A worker may be checking the builtins cycle meanwhile, writing its
        # entries (head_start.py): the cache was empty when the run began, and
        # this load must not find them.
        with cache_reads_off(manager, early_pool is not None and early_pool.head_start):
            graph, to_check = load_checked_graph(sources, manager, load_order)
        if isinstance(manager.stderr, HeldLog):
            manager.stderr.release()
        if starter is not None and early_pool is None:
            early_pool = starter.take_pool()
        if to_check and not manager.use_fine_grained_cache():
            plan = plan_sccs(graph, manager)
            if parallelism is None:
                run_in_process(plan, manager, show, costs, observer)
            else:
                # Imported here: a run without workers should not pay for loading it.
                from mypy_split.parallel import Coordinator

                hello = functools.partial(hello_message, parallelism)
                # `early_pool` stays set until the end: a signal before the
                # coordinator's own cleanup begins (while it is built) is
                # covered below; once it has stopped the pool, kill does nothing.
                coordinator = Coordinator(
                    plan, manager, parallelism.workers, hello, show, early_pool, costs, observer
                )
                coordinator.pass_fds = inherited_fds(parallelism)
                coordinator.gate.load_order = load_order
                coordinator.run()
                with_trees = fine_grained.modules_with_trees(plan, coordinator.stale_scc_ids())
            costs.save()
            observer.build_measured(plan.nodes, costs.measured_scc_costs(plan))
    finally:
        # No worker starts after this.
        worker_seed.release()
        for unused in (early_pool, starter.take_pool() if starter is not None else None):
            if unused is not None:
                unused.kill()
    if to_check and not manager.use_fine_grained_cache():
        mypy.build.write_plugins_snapshot(manager)
        manager.old_plugins_snapshot = manager.plugins_snapshot
        if options.fine_grained_incremental:
            # Protocol dependencies are a property of the whole program.
            type_state.add_all_protocol_deps(manager.fg_deps)
        elif options.cache_fine_grained:
            fine_grained.write_cache(manager, graph, with_trees)
    if to_check and options.dump_deps:
        from mypy.server.deps import dump_all_dependencies

        dump_all_dependencies(manager.modules, manager.all_types, options.python_version, options)
    if not options.fine_grained_incremental:
        type_state.reset_all_subtype_caches()
    write_stats_files(graph, options)
    warn_unused_configs(options, show)
    return graph


def show_through_engine(manager: BuildManager) -> phases.ShowErrors:
    """Show errors as text through the engine's own flush callback."""
    return lambda module_errors: manager.flush_errors(module_errors.path, module_errors.lines, False)


def warn_unused_configs(options: Options, show: phases.ShowErrors) -> None:
    """mypy's note on config sections that matched no module, with its tuple."""
    lines: list[str] = []
    mypy.build.warn_unused_configs(options, lambda path, new, serious: lines.extend(new))
    if not lines or options.config_file is None:
        return
    unused_globs = [glob for glob in options.per_module_options if glob in options.get_unused_configs()]
    unused = get_config_module_names(options.config_file, unused_globs)
    note = (options.config_file, -1, -1, -1, -1, "note", f"unused section(s): {unused}", None)
    show(phases.ModuleErrors(None, lines, [note]))


@contextlib.contextmanager
def cache_reads_off(manager: BuildManager, off: bool) -> Iterator[None]:
    """Load without reading any meta, if `off` (the engine's own switch, read only there)."""
    if not off:
        yield
        return
    enabled, manager.cache_enabled = manager.cache_enabled, False
    try:
        yield
    finally:
        manager.cache_enabled = enabled


def load_checked_graph(
    sources: list[BuildSource], manager: BuildManager, load_order: LoadOrder | None = None
) -> tuple[Graph, bool]:
    """Load the graph, and say whether to check it (mypy explains when not).

    A fine-grained cache whose dependency data cannot be read is abandoned
    and the graph loaded again without it, as mypy does.  With `load_order`
    parsed files get imports only (see raw_trees.py), and the load is watched.
    """
    while True:
        started = time.time()
        graph = load_graph_keeping_raw(sources, manager, load_order)
        manager.add_stats(graph_size=len(graph))
        if not graph:
            print("Nothing to do?!", file=manager.stdout)
            return graph, False
        # mypy's own `-v` line, at its place.
        manager.log(f"Loaded graph with {len(graph)} nodes ({time.time() - started:.3f} sec)")
        if manager.options.dump_graph:
            mypy.build.dump_graph(graph, manager.stdout)
            return graph, False
        if not (manager.options.cache_fine_grained or manager.use_fine_grained_cache()):
            return graph, True
        fg_deps_meta = mypy.build.read_deps_cache(manager, graph)
        if fg_deps_meta is not None:
            manager.fg_deps_meta = fg_deps_meta
            return graph, True
        if manager.stats.get("fresh_metas", 0) == 0:
            return graph, True
        manager.stats.clear()
        manager.log("Error reading fine-grained dependencies cache -- aborting cache load")
        manager.cache_enabled = False
        manager.log("Falling back to full run -- reloading graph...")
        # mypy starts its whole run again, logging its configuration first.
        mypy.build.log_configuration(manager, sources)


def load_graph_keeping_raw(sources: list[BuildSource], manager: BuildManager, load_order: LoadOrder | None) -> Graph:
    """The graph; with `load_order`, parsed files kept as bytes with imports only.

    A blocker while loading stops mypy with the errors of the files parsed so
    far, including those only a whole tree shows, which this load did not
    build: the build runs again without workers to report them all.
    """
    if load_order is None:
        return load_graph(sources, manager)
    try:
        with raw_trees.imports_only(manager, True), load_order.watching(manager):
            return load_graph(sources, manager)
    except CompileError:
        raise ReloadWithoutWorkers() from None


def write_stats_files(graph: Graph, options: Options) -> None:
    if options.timing_stats is not None:
        mypy.build.dump_timing_stats(options.timing_stats, graph)
    if options.line_checking_stats is not None:
        mypy.build.dump_line_checking_stats(options.line_checking_stats, graph)
