"""`--output github`: engine error tuples as GitHub Actions workflow commands.

One command per error tuple, so one per line mypy's text output would show
(pretty-printed source excerpts aside), in the same order:
`::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=CODE::MESSAGE`,
`::notice ...` for notes (mypy has no warnings; any other severity becomes
`::warning`).  Escaping follows GitHub's workflow-command rules: in the
message `%`, CR and LF; in property values also `:` and `,`.

Positions: `line` and `col` are 1-based (mypy's columns are 0-based and its
text output adds one); a position mypy does not know (-1) is left out, and
`col` needs a line.  `endLine`/`endColumn` are given whenever the engine has
them, whether or not `--show-error-end` is on; `endColumn` only when the
error ends on its own line, since GitHub ignores it across lines.  A note
attached to an error is its own `::notice` at the note's position, exactly
where the text output puts it, so nothing is merged or reordered.
"""

from __future__ import annotations

from mypy.errors import SHOW_NOTE_CODES

ErrorTuple = tuple[str | None, int, int, int, int, str, str, str | None]

_COMMANDS = {"error": "error", "note": "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (file name, title)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(error: ErrorTuple, show_codes: bool = True) -> str:
    """The workflow command for one engine error tuple."""
    file, line, column, end_line, end_column, severity, message, code = error
    properties: list[tuple[str, str]] = []
    if file is not None:
        properties.append(("file", escape_property(file)))
    if line >= 1:
        properties.append(("line", str(line)))
        if column >= 0:
            properties.append(("col", str(column + 1)))
        if end_line >= line:
            properties.append(("endLine", str(end_line)))
            if end_line == line and column >= 0 and end_column > column:
                properties.append(("endColumn", str(end_column)))
    # The text output shows a note's code only for a few codes; the title follows it.
    if code and show_codes and (severity != "note" or code in SHOW_NOTE_CODES):
        properties.append(("title", escape_property(code)))
    command = _COMMANDS.get(severity, "warning")
    props = ",".join(f"{name}={value}" for name, value in properties)
    separator = " " if props else ""
    return f"::{command}{separator}{props}::{escape_data(message)}"


def workflow_commands(errors: list[ErrorTuple], show_codes: bool = True) -> list[str]:
    return [workflow_command(error, show_codes) for error in errors]
