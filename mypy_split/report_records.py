"""Report data of the files one worker task checked: plain records and their JSON form.

The engine's report writers keep, per checked file, a small entry in their
own state (counts, covered lines, a cobertura class element) and write whole
files only when the build finishes.  A worker hands back exactly those
entries, in the order its reporters received the files; the coordinator puts
them into its own reporters (see `mypy_split.reports`).  Nothing here knows
about the engine or processes.  A malformed value raises ValueError, which
the protocol turns into a ProtocolError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"


@dataclass(frozen=True)
class FileCounts:
    """A file's line counts per precision (the engine's `FileInfo`)."""

    name: str
    module: str
    counts: list[int]

    def to_json(self) -> JsonValue:
        return [self.name, self.module, list(self.counts)]

    @classmethod
    def from_json(cls, value: JsonValue) -> FileCounts:
        name, module, counts = _items(value, 3)
        return cls(_str(name), _str(module), _ints(counts))


@dataclass(frozen=True)
class CoberturaPackageData:
    """The part of one cobertura package that a task's files added."""

    name: str
    total_lines: int
    covered_lines: int
    # (class name, the class element serialized as XML), in insertion order.
    classes: list[tuple[str, str]]

    def to_json(self) -> JsonValue:
        return [
            self.name, self.total_lines, self.covered_lines,
            [[class_name, xml] for class_name, xml in self.classes],
        ]

    @classmethod
    def from_json(cls, value: JsonValue) -> CoberturaPackageData:
        name, total, covered, classes = _items(value, 4)
        pairs = []
        for item in _list(classes):
            class_name, xml = _items(item, 2)
            pairs.append((_str(class_name), _str(xml)))
        return cls(_str(name), _int(total), _int(covered), pairs)


# A (key, numbers) entry: a module or path with its counts or line numbers.
Entry = tuple[str, list[int]]


@dataclass
class TaskReports:
    """Per-reporter entries of the files a task reported, in report order.

    `folder` holds the per-file outputs the task wrote (the XML and HTML
    pages), one subfolder per report name, to be moved into place when the
    coordinator reaches the task in mypy's order.
    """

    folder: str = ""
    # linecount: module -> (annotated lines, lines, annotated functions, functions)
    line_counts: list[Entry] = field(default_factory=list)
    # any-exprs: module -> (Any expressions, all expressions), where there are any
    any_exprs: list[Entry] = field(default_factory=list)
    # any-exprs: module -> kind of Any -> count
    types_of_anys: list[tuple[str, dict[int, int]]] = field(default_factory=list)
    # linecoverage: absolute path -> typed lines
    covered_lines: list[Entry] = field(default_factory=list)
    # The in-memory XML reporter behind xml, html and txt, and lineprecision.
    xml_files: list[FileCounts] = field(default_factory=list)
    precision_files: list[FileCounts] = field(default_factory=list)
    cobertura: list[CoberturaPackageData] = field(default_factory=list)

    def to_json(self) -> JsonValue:
        return {
            "folder": self.folder,
            "line_counts": _entries_to_json(self.line_counts),
            "any_exprs": _entries_to_json(self.any_exprs),
            "types_of_anys": [
                [module, [[kind, count] for kind, count in counter.items()]]
                for module, counter in self.types_of_anys
            ],
            "covered_lines": _entries_to_json(self.covered_lines),
            "xml_files": [info.to_json() for info in self.xml_files],
            "precision_files": [info.to_json() for info in self.precision_files],
            "cobertura": [package.to_json() for package in self.cobertura],
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> TaskReports:
        if not isinstance(value, dict):
            raise ValueError(f"report data is not an object: {value!r}")
        types_of_anys = []
        for item in _list(value["types_of_anys"]):
            module, pairs = _items(item, 2)
            counter = {}
            for pair in _list(pairs):
                kind, count = _items(pair, 2)
                counter[_int(kind)] = _int(count)
            types_of_anys.append((_str(module), counter))
        return cls(
            folder=_str(value["folder"]),
            line_counts=_entries_from_json(value["line_counts"]),
            any_exprs=_entries_from_json(value["any_exprs"]),
            types_of_anys=types_of_anys,
            covered_lines=_entries_from_json(value["covered_lines"]),
            xml_files=[FileCounts.from_json(item) for item in _list(value["xml_files"])],
            precision_files=[FileCounts.from_json(item) for item in _list(value["precision_files"])],
            cobertura=[CoberturaPackageData.from_json(item) for item in _list(value["cobertura"])],
        )


def _entries_to_json(entries: list[Entry]) -> JsonValue:
    # A list of pairs, not an object: the order of entries is part of the data.
    return [[key, list(numbers)] for key, numbers in entries]


def _entries_from_json(value: JsonValue) -> list[Entry]:
    entries = []
    for item in _list(value):
        key, numbers = _items(item, 2)
        entries.append((_str(key), _ints(numbers)))
    return entries


def _items(value: JsonValue, count: int) -> list[JsonValue]:
    items = _list(value)
    if len(items) != count:
        raise ValueError(f"expected {count} items, got {value!r}")
    return items


def _list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return value


def _int(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _ints(value: JsonValue) -> list[int]:
    return [_int(item) for item in _list(value)]


def _str(value: JsonValue) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value
