"""Output: where error lines go, the summary line, junit XML and the exit code.

Errors arrive already in mypy's order (the driver replays it), each module's
as the engine's text lines together with the tuples behind them; this module
decides only how they are shown: as mypy's command line shows them, or as
GitHub Actions workflow commands (`--output github`, from the tuples).
Counts, the exit code and junit XML always come from the text lines.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TextIO

import mypy.main
from mypy import util
from mypy.options import Options

from mypy_split import github
from mypy_split.observe import NULL_OBSERVER, BuildObserver
from mypy_split.own_flags import OwnFlags
from mypy_split.phases import ModuleErrors


class MessageSink:
    """Receives flushed errors, shows them at once, and remembers their lines.

    It owns the terminal during a build: the observer (a progress line) is
    told before anything is written.
    """

    def __init__(
        self,
        options: Options,
        stdout: TextIO,
        stderr: TextIO,
        flags: OwnFlags = OwnFlags(),
        observer: BuildObserver = NULL_OBSERVER,
    ) -> None:
        self.options = options
        self.stdout = stdout
        self.stderr = stderr
        self.flags = flags
        self.observer = observer
        # True when errors are shown from their tuples rather than as text.
        self.structured = flags.output == "github"
        # --install-types --non-interactive: workflow commands held until the end.
        self.held_commands: list[str] = []
        self.formatter = util.FancyFormatter(
            stdout, stderr, options.hide_error_codes, hide_success=bool(options.output)
        )
        self.messages: list[str] = []
        self.messages_by_file: dict[str | None, list[str]] = defaultdict(list)

    def flush_errors(self, filename: str | None, new_messages: list[str], serious: bool) -> None:
        """The engine's flush callback and the text output: one file's lines, or a blocker's (serious).

        Lines that reach it with `--output github` have no tuples: they are
        shown as they are (in the log, not as annotations).
        """
        if self.structured:
            self.show_commands(ModuleErrors(filename, new_messages, None))
            return
        if self.options.pretty:
            new_messages = self.formatter.fit_in_terminal(new_messages)
        self.remember(filename, new_messages)
        if self.options.non_interactive:
            # --install-types --non-interactive shows them after the stubs are in.
            return
        self.show(new_messages, self.stderr if serious else self.stdout)

    def show_module(self, errors: ModuleErrors, serious: bool = False) -> None:
        """One module's errors (or a blocker's lines, `serious` ones on stderr).

        Text goes through `flush_errors`, as the engine's own flushes do.
        """
        if self.structured:
            self.show_commands(errors)
        else:
            self.flush_errors(errors.path, errors.lines, serious)

    def remember(self, filename: str | None, lines: list[str]) -> None:
        """Lines for the counts, the exit code and junit XML."""
        self.messages.extend(lines)
        if lines:
            self.messages_by_file[filename].extend(lines)

    def show_commands(self, errors: ModuleErrors) -> None:
        """Workflow commands on stdout, where the runner reads them."""
        self.remember(errors.path, errors.lines)
        if errors.errors is None:
            commands = errors.lines
        else:
            commands = github.workflow_commands(errors.errors, not self.options.hide_error_codes)
        if self.options.non_interactive:
            self.held_commands.extend(commands)
            return
        self.write(commands, self.stdout)

    def show(self, messages: list[str], stream: TextIO) -> None:
        if self.options.color_output:
            messages = [self.formatter.colorize(message) for message in messages]
        self.write(messages, stream)

    def write(self, lines: list[str], stream: TextIO) -> None:
        if not lines:
            return
        self.observer.before_output()
        for line in lines:
            stream.write(line + "\n")
        stream.flush()

    def show_collected(self) -> None:
        """Show what was held back for --non-interactive (blockers included, on stdout)."""
        if self.structured:
            self.write(self.held_commands, self.stdout)
            self.held_commands = []
        else:
            self.show(self.messages, self.stderr)

    @property
    def summary_stream(self) -> TextIO:
        """Workflow commands own stdout; the summary then goes to stderr."""
        return self.stderr if self.structured else self.stdout

    def write_junit_xml(self, elapsed: float, serious: bool) -> None:
        mypy.main.maybe_write_junit_xml(
            elapsed, serious, self.messages, self.messages_by_file, self.options
        )


def exit_code(messages: list[str], blockers: bool) -> int:
    """mypy's rule: 0 when only notes (or nothing), 2 with a blocker, else 1."""
    _, n_notes, _ = util.count_stats(messages)
    if messages and n_notes < len(messages):
        return 2 if blockers else 1
    return 0


def write_summary(
    sink: MessageSink, messages: list[str], blockers: bool, source_count: int
) -> None:
    """The last line: "Found N errors in M files (checked K source files)" or success."""
    options = sink.options
    if not options.error_summary:
        return
    n_errors, n_notes, n_files = util.count_stats(messages)
    formatter = sink.formatter
    if n_errors:
        summary = formatter.format_error(
            n_errors, n_files, source_count, blockers=blockers, use_color=options.color_output
        )
        sink.write([summary], sink.summary_stream)
    elif not messages or n_notes == len(messages):
        sink.write([formatter.format_success(source_count, options.color_output)], sink.summary_stream)
    sink.summary_stream.flush()


def interrupted(stdout: TextIO = sys.stdout) -> None:
    """What mypy prints on Ctrl-C."""
    formatter = util.FancyFormatter(stdout, sys.stderr, False)
    stdout.write(formatter.style("Interrupted\n", color="red", bold=True))
    stdout.flush()
