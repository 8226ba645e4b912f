"""The daemon's options: mypy's parser, the daemon's rules, the worker count kept aside."""

from __future__ import annotations

import argparse
import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import mypy.main
from mypy.find_sources import InvalidSourceList
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource
from mypy.options import Options


@dataclass
class StartOptions:
    """The options a daemon runs with, and what it needs to compare and rebuild them."""

    options: Options
    # Taken before the daemon's own changes: `run` compares new flags with it.
    snapshot: dict[str, object]
    workers: int
    # The flags again, for worker processes (with the files when they name none).
    flags: list[str]
    flags_name_targets: bool
    # The cache folder the flags name: a parallel first check writes there.
    user_cache_dir: str


def start_options(flags: list[str]) -> StartOptions:
    """Parse the mypy flags of `start`, `restart`, `run` or `daemon`; exit on misuse."""
    sources, options = mypy.main.process_options(["-i", *flags], require_targets=False, server_options=True)
    if options.report_dirs:
        print("dmypy-split: Ignoring report generation settings. Start/restart cannot generate reports.")
        options.report_dirs = {}
    if options.junit_xml:
        print(
            "dmypy-split: Ignoring report generation settings. "
            "Start/restart does not support --junit-xml. Pass it to check/recheck instead"
        )
        options.junit_xml = None
    if not options.incremental:
        sys.exit("dmypy-split: start/restart should not disable incremental mode")
    if options.follow_imports not in ("skip", "error", "normal"):
        sys.exit("dmypy-split: follow-imports=silent not supported")
    if not options.local_partial_types:
        sys.exit("dmypy-split: disabling local-partial-types not supported")
    if options.num_workers < 0:
        sys.exit("dmypy-split: error: Number of workers cannot be negative")
    snapshot = options.snapshot()
    workers = options.num_workers
    user_cache_dir = options.cache_dir
    make_daemon_options(options)
    return StartOptions(options, snapshot, workers, list(flags), bool(sources), user_cache_dir)


def make_daemon_options(options: Options) -> None:
    """What fine-grained mode needs, as mypy's daemon sets it."""
    options.raise_exceptions = True
    options.incremental = True
    options.fine_grained_incremental = True
    options.show_traceback = True
    if options.use_fine_grained_cache:
        options.cache_fine_grained = True
    else:
        # A daemon without --use-fine-grained-cache neither reads nor writes a cache.
        options.cache_dir = os.devnull
    # The engine's own options always say 0: the cache records it (see cli.py).
    options.num_workers = 0
    # Partial types across scopes cannot be updated target by target.
    options.local_partial_types = True


@dataclass
class RunArguments:
    """`run`'s flags parsed: sources and options, or what to answer instead."""

    sources: list[BuildSource]
    options: Options | None
    reply: dict[str, object] | None


def parse_run_flags(args: list[str], fscache: FileSystemCache) -> RunArguments:
    """Parse `run`'s flags as mypy does, keeping what its parser prints for the client."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(out):
            sources, options = mypy.main.process_options(
                ["-i", *args],
                require_targets=True,
                server_options=True,
                fscache=fscache,
                program="mypy-daemon",
                header=argparse.SUPPRESS,
            )
    except InvalidSourceList as error:
        return RunArguments([], None, {"out": "", "err": str(error), "status": 2})
    except SystemExit as stop:
        return RunArguments([], None, {"out": out.getvalue(), "err": err.getvalue(), "status": stop.code})
    return RunArguments(sources, options, None)

