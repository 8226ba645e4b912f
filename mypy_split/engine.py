"""The engine: the pinned mypy wheel, and how one process sets up a build on it.

Everything here is a thin composition of mypy's module-level functions, in the
order its own build uses them (see ENGINE.md); nothing here decides what to
check or when.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

import mypy.build
import mypy.defaults
import mypy.main
import mypy.version
from mypy.build import BuildManager, build_error, default_data_dir
from mypy.error_formatter import OUTPUT_CHOICES
from mypy.errors import Errors
from mypy.fscache import FileSystemCache
from mypy.known_modules import reset_known_modules_cache
from mypy.metastore import MetadataStore, SqliteMetadataStore
from mypy.modulefinder import BuildSource, BuildSourceSet, compute_search_paths
from mypy.options import Options
from mypy.typestate import reset_global_state
from mypy.types import instance_cache
from mypy.util import read_py_file

FlushErrors = Callable[[str | None, list[str], bool], None]

ENGINE_VERSION = mypy.version.__version__

# mypy's own thresholds: the checker allocates millions of long-lived objects,
# and the default thresholds make the collector run far too often.
_GC_THRESHOLDS = (200 * 1000, 30, 30)

_IS_CPYTHON = platform.python_implementation() == "CPython"


def engine_is_compiled() -> bool:
    """Whether the engine is the mypyc-compiled wheel (about 4x faster)."""
    return not mypy.main.__file__.endswith(".py")


def pinned_engine_version() -> str | None:
    """The engine version our distribution pins, read from its metadata."""
    from importlib import metadata

    try:
        requirements = metadata.requires("mypy-split") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        if sep and name.strip().lower() == "mypy":
            return version.split(";")[0].strip()
    return None


def tune_process() -> None:
    """Process-wide settings mypy's own command line makes before a build."""
    sys.setrecursionlimit(mypy.defaults.RECURSION_LIMIT)
    if _IS_CPYTHON:
        gc.set_threshold(*_GC_THRESHOLDS)


_gc_frozen_once = False


@contextlib.contextmanager
def collector_paused(options: Options) -> Iterator[None]:
    """Pause the garbage collector around graph loading, once per process.

    Parsed trees hold no reference cycles, so collecting while they are built
    only costs time; afterwards the survivors are moved out of the young
    generations so later collections skip them.
    """
    global _gc_frozen_once
    active = _IS_CPYTHON and not options.test_env and not _gc_frozen_once
    if active:
        gc.disable()
    try:
        yield
    finally:
        if active:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
            _gc_frozen_once = True


def collect_garbage(options: Options) -> None:
    """A full collection, so that what `objects_kept` freezes next holds no garbage."""
    if _IS_CPYTHON and not options.test_env:
        gc.collect()


@contextlib.contextmanager
def objects_kept(options: Options) -> Iterator[None]:
    """Build objects that live until the process ends, uncollected.

    A worker keeps every tree it parses or loads until it exits, so after each
    task's parsing and loading the collector is told to skip them for good
    (freeze); without this, every later collection scans them all again.
    Whatever is not collected before (`collect_garbage`) is frozen with them.
    """
    active = _IS_CPYTHON and not options.test_env
    if active:
        gc.disable()
    try:
        yield
    finally:
        if active:
            gc.freeze()
            gc.enable()


def reset_process_caches() -> None:
    """Forget instance and module caches left by an earlier build in this process."""
    instance_cache.reset()
    reset_known_modules_cache()


def open_build(
    sources: list[BuildSource],
    options: Options,
    *,
    fscache: FileSystemCache,
    flush_errors: FlushErrors,
    stdout: TextIO,
    stderr: TextIO,
    worker: bool = False,
) -> BuildManager:
    """Create the BuildManager a build runs on, with plugins and reports loaded.

    Raises CompileError for a plugin that cannot be loaded or a bad error code,
    exactly where mypy's own build raises them.  A `worker` manager reads the
    cache by name (its states come without metas) and leaves the SQLite
    journal mode to the coordinator.
    """
    metastore = open_metastore(options, worker)
    data_dir = default_data_dir()
    search_paths = compute_search_paths(sources, options, data_dir, None)
    reports = None
    if options.report_dirs:
        from mypy.report import Reports

        reports = Reports(data_dir, options.report_dirs)
    formatter = None if options.output is None else OUTPUT_CHOICES.get(options.output)
    errors = Errors(
        options,
        read_source=lambda path: read_py_file(path, fscache.read),
        error_formatter=formatter,
    )
    plugin, snapshot = mypy.build.load_plugins(options, errors, stdout, [])
    # Plugins may define error codes, so codes are validated only now.
    options.process_error_codes(error_callback=build_error)
    manager = BuildManager(
        data_dir,
        search_paths,
        ignore_prefix=os.getcwd(),
        source_set=BuildSourceSet(sources),
        reports=reports,
        options=options,
        version_id=ENGINE_VERSION,
        plugin=plugin,
        plugins_snapshot=snapshot,
        errors=errors,
        error_formatter=formatter,
        flush_errors=flush_errors,
        fscache=fscache,
        stdout=stdout,
        stderr=stderr,
        parallel_worker=worker,
        metastore=metastore,
    )
    if manager.verbosity() >= 2:
        manager.trace(repr(options))
    reset_global_state()
    return manager


# How long a cache read or write waits for another process's SQLite
# transaction (sqlite3's own default is 5 s, too short when several runs
# share a loaded machine: mypy then fails with "database is locked").
SQLITE_BUSY_TIMEOUT_S = 120.0


_cache_opened = False


def cache_opened_in_this_process() -> bool:
    """Whether a build of this process has opened a cache (SQLite state that must not cross a fork)."""
    return _cache_opened


def open_metastore(options: Options, worker: bool) -> MetadataStore:
    """The engine's metastore, made patient with the SQLite store.

    Opening a SQLite store may itself find the database locked (switching a
    new database to WAL needs it alone) before any timeout of ours applies:
    retry until our timeout.  Then every connection waits up to that long.
    """
    global _cache_opened
    _cache_opened = True
    if not options.sqlite_cache:
        return mypy.build.create_metastore(options, parallel_worker=worker)
    # Imported only here, as mypy does: some Pythons lack sqlite3.
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            metastore = mypy.build.create_metastore(options, parallel_worker=worker)
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if isinstance(metastore, SqliteMetadataStore):
        for db in metastore.dbs:
            db.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    return metastore


def close_build(manager: BuildManager) -> None:
    """What mypy does after every build, successful or not: commit and tidy the cache."""
    manager.commit()
    manager.log(
        f"Build finished in {time.time() - manager.start_time:.3f} seconds with {len(manager.modules)} modules, "
        f"and {manager.errors.num_messages()} errors"
    )
    manager.dump_stats()
    if manager.reports is not None:
        manager.reports.finish()
    cache_dir = manager.options.cache_dir
    if os.path.isdir(cache_dir):
        mypy.build.add_catch_all_gitignore(cache_dir)
        mypy.build.exclude_from_backups(cache_dir)
        mypy.build.record_missing_stub_packages(cache_dir, manager.missing_stub_packages)
