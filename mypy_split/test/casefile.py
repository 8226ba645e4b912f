"""The `test-data/*.test` format: projects, command lines and incremental steps.

A file holds many cases:

    [case name]                 starts a case; text before any section is ignored
    -- a comment                 outside [file] and [out] bodies
    # flags: --strict           options (shlex syntax); repeatable, joined
    # targets: main.py pkg/     what to check (default: main.py); may be empty
    # env: MYPY_X=1             extra environment for both commands
    # workers: 0                the worker counts to compare at (default: all);
                                only for a difference README lists under "Known
                                limits", with a test that pins it
    [file path]                 a file of the project (text up to the next section)
    [delete path]               remove a file (only in later steps)
    [step]                      a new run; the sections after it edit the project,
                                and `# flags:` / `# targets:` lines replace the step's
    [out]                       the expected stdout, only where mypy cannot be the
                                reference (rare; written by hand)

Every step of every case runs both `mypy` and `mypy-split` and compares them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_SECTION = re.compile(r"^\[(case|file|delete|step|out)(?:\s+(.*?))?\]\s*$")
_DIRECTIVE = re.compile(r"^#\s*(flags|targets|env|workers):(.*)$")


@dataclass
class Step:
    flags: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=lambda: ["main.py"])
    env: dict[str, str] = field(default_factory=dict)
    writes: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    expected_out: str | None = None

    @property
    def args(self) -> list[str]:
        return [*self.targets, *self.flags]


@dataclass
class Case:
    name: str
    source: str
    line: int
    steps: list[Step]
    worker_counts: tuple[int, ...] | None = None


class CaseFormatError(Exception):
    pass


def parse_case_file(path: Path) -> list[Case]:
    return parse_cases(path.read_text(encoding="utf-8"), source=path.name)


def parse_cases(text: str, source: str = "<string>") -> list[Case]:
    parser = _Parser(source)
    for number, line in enumerate(text.splitlines(), start=1):
        parser.feed(number, line)
    parser.close_body()
    return parser.cases


class _Parser:
    """Line-by-line reader; a section body is joined when the next section starts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.cases: list[Case] = []
        self.step: Step | None = None
        self.seen: set[str] = set()
        self.body: list[str] | None = None
        self.body_target: str | None = None  # file name, or None for [out]

    def feed(self, number: int, line: str) -> None:
        match = _SECTION.match(line)
        if match is None:
            self.feed_text(number, line)
            return
        kind, argument = match.group(1), (match.group(2) or "").strip()
        self.close_body()
        if kind == "case":
            self.start_case(number, argument)
            return
        step = self.step
        if step is None:
            raise CaseFormatError(f"{self.source}:{number}: [{kind}] before any [case]")
        if kind in ("file", "delete") and not argument:
            raise CaseFormatError(f"{self.source}:{number}: [{kind}] needs a path")
        if kind == "step":
            self.step = Step(flags=list(step.flags), targets=list(step.targets), env=dict(step.env))
            self.seen = set()
            self.cases[-1].steps.append(self.step)
        elif kind == "file":
            self.body, self.body_target = [], argument
        elif kind == "delete":
            step.deletes.append(argument)
        else:
            self.body, self.body_target = [], None

    def feed_text(self, number: int, line: str) -> None:
        if self.step is None:
            return
        if self.body is not None:
            self.body.append(line)
            return
        directive = _DIRECTIVE.match(line)
        if directive is not None and directive.group(1) == "workers":
            counts = tuple(int(word) for word in directive.group(2).split())
            self.cases[-1].worker_counts = counts
        elif directive is not None:
            apply_directive(self.step, directive.group(1), directive.group(2), self.seen)
        elif line.strip() and not line.startswith("--"):
            raise CaseFormatError(f"{self.source}:{number}: text outside a section: {line!r}")

    def start_case(self, number: int, name: str) -> None:
        if not name:
            raise CaseFormatError(f"{self.source}:{number}: a case needs a name")
        if any(case.name == name for case in self.cases):
            raise CaseFormatError(f"{self.source}:{number}: duplicate case name {name!r}")
        self.step = Step()
        self.seen = set()
        self.cases.append(Case(name=name, source=self.source, line=number, steps=[self.step]))

    def close_body(self) -> None:
        if self.body is None or self.step is None:
            return
        text = "\n".join(self.body).strip("\n")
        text = text + "\n" if text else ""
        if self.body_target is None:
            self.step.expected_out = text
        else:
            self.step.writes[self.body_target] = text
        self.body = None


def apply_directive(step: Step, name: str, value: str, seen: set[str]) -> None:
    """Directives in a step replace the inherited value (and accumulate within a step)."""
    words = shlex.split(value)
    if name == "flags":
        step.flags = (step.flags if "flags" in seen else []) + words
    elif name == "targets":
        step.targets = (step.targets if "targets" in seen else []) + words
    else:
        if "env" not in seen:
            step.env = {}
        for word in words:
            key, sep, val = word.partition("=")
            if not sep:
                raise CaseFormatError(f"# env: expects NAME=VALUE, got {word!r}")
            step.env[key] = val
    seen.add(name)
