"""The command line: argv to options (mypy's own parser), a build, an exit code.

`mypy-split ARGS` behaves as `mypy ARGS -n 0` does: the same validation, the
same messages, the same summary and exit codes, and the same handling of
Ctrl-C, closed pipes and internal errors.  Ours: `--version`'s text, and the
flags in `own_flags` (taken out before mypy's parser sees the arguments).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from io import TextIOWrapper
from typing import TYPE_CHECKING, NoReturn, TextIO

import mypy.main
from mypy import util
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource
from mypy.options import Options

import mypy_split
from mypy_split import engine, parsed_arguments
from mypy_split.driver import BuildOutcome, Parallelism, run_build
from mypy_split.failures import WorkerCrashed
from mypy_split.output import MessageSink, exit_code, interrupted, write_summary
from mypy_split.own_flags import OwnFlagError, OwnFlags, split_own_flags
from mypy_split.observe import combine
from mypy_split.progress import progress_observer

if TYPE_CHECKING:
    from mypy_split.trace import TraceObserver


def version_text() -> str:
    compiled = "yes" if engine.engine_is_compiled() else "no"
    text = f"mypy-split {mypy_split.__version__} (engine: mypy {engine.ENGINE_VERSION}, compiled: {compiled})"
    pinned = engine.pinned_engine_version()
    if pinned is not None and pinned != engine.ENGINE_VERSION:
        text += f"\nwarning: mypy-split pins mypy {pinned}, but mypy {engine.ENGINE_VERSION} is installed"
    return text


def wants_version(args: list[str]) -> bool:
    """`-V`/`--version` before any `--` or program text, as argparse would see it."""
    for arg in args:
        if arg in ("--", "-c", "--command"):
            return False
        if arg in ("-V", "--version"):
            return True
    return False


def main(args: list[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """Run mypy-split; returns the exit code (the caller exits)."""
    util.check_python_version("mypy")
    start = time.time()
    if args is None:
        args = sys.argv[1:]
    if isinstance(stdout, TextIOWrapper) and stdout.errors == "strict":
        stdout.reconfigure(errors="backslashreplace")
    try:
        flags, args = split_own_flags(args)
    except OwnFlagError as error:
        stderr.write(f"mypy-split: error: {error}\n")
        return 2
    if wants_version(args):
        stdout.write(version_text() + "\n")
        return 0
    engine.tune_process()
    fscache = FileSystemCache()
    sources, options = mypy.main.process_options(args, stdout=stdout, stderr=stderr, fscache=fscache)
    parsed_arguments.keep(args, os.getcwd(), sources, options)
    validate_options(options, stdout, stderr)
    apply_own_flags(flags, options, stderr)
    # Workers rebuild our options from mypy's arguments only.
    parallelism = Parallelism(take_worker_count(options, stderr), list(args), os.getcwd())
    tracer = new_tracer() if flags.trace is not None or flags.stats else None
    observer = combine([progress_observer(flags, stderr, options.verbosity), *([tracer] if tracer else [])])
    formatter = util.FancyFormatter(stdout, stderr, options.hide_error_codes, hide_success=bool(options.output))

    if options.install_types and not sources:
        mypy.main.install_types(formatter, options, non_interactive=options.non_interactive)
        return 0

    def new_sink() -> MessageSink:
        return MessageSink(options, stdout, stderr, flags, observer)

    try:
        sink, outcome = build_once(sources, fscache, start, new_sink(), parallelism)
    except WorkerCrashed as crash:
        stderr.write(f"mypy-split: error: {crash}\n")
        return 2
    if options.non_interactive:
        if mypy.main.read_types_packages_to_install(options.cache_dir, after_run=True):
            mypy.main.install_types(formatter, options, after_run=True, non_interactive=True)
            fscache.flush()
            print()
            sink, outcome = build_once(sources, fscache, start, new_sink(), parallelism)
        sink.show_collected()

    code = exit_code(sink.messages, outcome.blockers)
    write_summary(sink, sink.messages, outcome.blockers, len(sources))
    if tracer is not None and not report_trace(tracer, flags, stderr):
        code = 2
    if options.install_types and not options.non_interactive:
        if mypy.main.install_types(formatter, options, after_run=True, non_interactive=False):
            print()
            print("note: Run mypy again for up-to-date results with installed types")
            code = 2
    return code


def new_tracer() -> TraceObserver:
    # Imported only when asked for: most runs have no trace to pay for.
    from mypy_split.trace import Recorder, TraceObserver

    return TraceObserver(Recorder())


def report_trace(tracer: TraceObserver, flags: OwnFlags, stderr: TextIO) -> bool:
    """Write --trace's file and --stats' summary; False if the file cannot be written."""
    if flags.stats:
        tracer.stats().write(stderr)
    if flags.trace is not None:
        try:
            tracer.recorder.write_chrome_trace(flags.trace)
        except OSError as error:
            stderr.write(f"mypy-split: error: cannot write the trace file {flags.trace}: {error.strerror}\n")
            return False
    return True


def build_once(
    sources: list[BuildSource],
    fscache: FileSystemCache,
    start: float,
    sink: MessageSink,
    parallelism: Parallelism,
) -> tuple[MessageSink, BuildOutcome]:
    outcome = run_build(sources, sink.options, fscache, sink, sink.stdout, sink.stderr, parallelism)
    sink.write_junit_xml(time.time() - start, outcome.serious)
    return sink, outcome


def take_worker_count(options: Options, stderr: TextIO) -> int:
    """Read the worker count mypy's parser found, and keep it out of the engine.

    The cache records `num_workers > 0`, so the engine's options must say 0
    for the cache to stay shared with `mypy -n 0`.
    """
    workers = options.num_workers
    if workers < 0:
        fail("error: Number of workers cannot be negative", stderr, options)
    options.num_workers = 0
    if workers and sys.platform == "win32":
        # The pool relies on select() over pipes, which Windows lacks.
        stderr.write("mypy-split: warning: worker processes are not supported on Windows; checking in-process\n")
        return 0
    return workers


def apply_own_flags(flags: OwnFlags, options: Options, stderr: TextIO) -> None:
    """Check our flags against mypy's options, and adjust those they replace."""
    if flags.output is not None and options.output is not None:
        fail(f"error: --output {flags.output} cannot be combined with --output {options.output}", stderr, options)
    if flags.output == "github":
        # Workflow commands are built from error tuples; source excerpts have no place there.
        options.pretty = False


def validate_options(options: Options, stdout: TextIO, stderr: TextIO) -> None:
    """The checks mypy's command line makes after parsing, with its messages."""
    if options.allow_redefinition and not options.local_partial_types:
        fail("error: --local-partial-types must be enabled if using --allow-redefinition", stderr, options)
    if options.allow_redefinition and options.allow_redefinition_old:
        fail("--allow-redefinition-old and --allow-redefinition should not be used together", stderr, options)
    if options.install_types and (stdout is not sys.stdout or stderr is not sys.stderr):
        fail("error: --install-types not supported in this mode of running mypy", stderr, options)
    if options.non_interactive and not options.install_types:
        fail("error: --non-interactive is only supported with --install-types", stderr, options)
    if options.install_types and not options.incremental:
        fail("error: --install-types not supported with incremental mode disabled", stderr, options)
    if options.install_types and options.python_executable is None:
        fail("error: --install-types not supported without python executable or site packages", stderr, options)


def fail(message: str, stderr: TextIO, options: Options) -> NoReturn:
    mypy.main.fail(message, stderr, options)


class Terminated(BaseException):
    """SIGTERM arrived: unwind (stopping workers), then die of the same signal."""


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def console_entry() -> NoReturn:
    """The `mypy-split` command: run, then exit fast as mypy does."""
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # The reader went away; flushing at exit would raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(2)
    except KeyboardInterrupt:
        if show_traceback_requested():
            sys.stdout.write(traceback.format_exc())
        interrupted()
        sys.stderr.flush()
        sys.exit(2)
    except Terminated:
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as error:
        report_crash(error)
        sys.exit(2)
    # Freeing millions of objects at exit costs seconds; mypy skips it too.
    util.hard_exit(code)
    sys.exit(code)


def show_traceback_requested() -> bool:
    try:
        _, options = mypy.main.process_options(mypy_arguments(), fscache=FileSystemCache())
    except BaseException:
        return False
    return bool(options.show_traceback)


def report_crash(error: Exception) -> None:
    """An internal error: mypy's own report where possible, then the traceback."""
    try:
        import mypy.errors

        _, options = mypy.main.process_options(mypy_arguments(), fscache=FileSystemCache())
        # Ends with SystemExit(2) after its report, exactly as mypy exits then.
        mypy.errors.report_internal_error(error, None, 0, None, options)
    except Exception:
        pass
    sys.stdout.write(traceback.format_exc())
    sys.stdout.flush()
    sys.stderr.flush()


def mypy_arguments() -> list[str]:
    """The command line as mypy's parser must see it: without our own flags."""
    try:
        return split_own_flags(sys.argv[1:])[1]
    except OwnFlagError:
        return sys.argv[1:]
