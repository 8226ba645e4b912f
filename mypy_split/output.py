"""Output: where error lines go, the summary line, junit XML and the exit code.

Lines arrive already in mypy's order (the driver replays it); this module
decides only how they are shown, exactly as mypy's command line shows them.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TextIO

import mypy.main
from mypy import util
from mypy.options import Options


class MessageSink:
    """Receives flushed error lines, shows them at once, and remembers them."""

    def __init__(self, options: Options, stdout: TextIO, stderr: TextIO) -> None:
        self.options = options
        self.stdout = stdout
        self.stderr = stderr
        self.formatter = util.FancyFormatter(
            stdout, stderr, options.hide_error_codes, hide_success=bool(options.output)
        )
        self.messages: list[str] = []
        self.messages_by_file: dict[str | None, list[str]] = defaultdict(list)

    def flush_errors(self, filename: str | None, new_messages: list[str], serious: bool) -> None:
        """The engine's flush callback: one file's lines, or a blocker's (serious)."""
        if self.options.pretty:
            new_messages = self.formatter.fit_in_terminal(new_messages)
        self.messages.extend(new_messages)
        if new_messages:
            self.messages_by_file[filename].extend(new_messages)
        if self.options.non_interactive:
            # --install-types --non-interactive shows them after the stubs are in.
            return
        self.show(new_messages, self.stderr if serious else self.stdout)

    def show(self, messages: list[str], stream: TextIO) -> None:
        for message in messages:
            if self.options.color_output:
                message = self.formatter.colorize(message)
            stream.write(message + "\n")
        stream.flush()

    def show_collected(self) -> None:
        """Show what was held back for --non-interactive (blockers included, on stdout)."""
        self.show(self.messages, self.stderr)

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
        sink.stdout.write(summary + "\n")
    elif not messages or n_notes == len(messages):
        sink.stdout.write(formatter.format_success(source_count, options.color_output) + "\n")
    sink.stdout.flush()


def interrupted(stdout: TextIO = sys.stdout) -> None:
    """What mypy prints on Ctrl-C."""
    formatter = util.FancyFormatter(stdout, sys.stderr, False)
    stdout.write(formatter.style("Interrupted\n", color="red", bold=True))
    stdout.flush()
