"""What one task added to the engine's error map, for `--soft-error-limit` across processes.

With the limit, mypy hides a reported error once an import error has been
recorded and its error map holds at least the limit's number of entries
(notes, errors later hidden and load-time import errors included), counted in
the order one process adds them; the first one hidden gets an only-once note
saying so.  No worker sees that count: each reports, per task, how many
entries it added, whether one was an import error, which only-once messages
it added, and, for the modules with entries the limit would hide, their
errors as shown once those are hidden (build_worker/entry_log.py).  The
coordinator keeps the count in mypy's order and picks the form (soft_limit.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mypy_split.header_values import JsonValue, ProtocolError
from mypy_split.header_values import dict_value as _dict
from mypy_split.header_values import int_value as _int
from mypy_split.header_values import list_value as _list
from mypy_split.header_values import str_list as _strs
from mypy_split.protocol import ErrorRecord


@dataclass
class EntryCounts:
    # Entries the task added to the error map.
    entries: int = 0
    # Whether one of them has an import error code (the limit then applies).
    imports: bool = False
    # Whether one of them is an error or note the limit would hide.
    hideable: bool = False
    # The messages of only-once notes among them, in the order added.
    once: list[str] = field(default_factory=list)
    # Per module with such entries: its shown errors once they are hidden.
    hidden_form: dict[str, list[ErrorRecord]] = field(default_factory=dict)

    def to_json(self) -> JsonValue:
        return {
            "entries": self.entries,
            "imports": self.imports,
            "hideable": self.hideable,
            "once": list(self.once),
            "hidden_form": {
                module: [record.to_json() for record in records] for module, records in self.hidden_form.items()
            },
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> EntryCounts:
        fields = _dict(value)
        imports, hideable = fields.get("imports"), fields.get("hideable")
        if not isinstance(imports, bool) or not isinstance(hideable, bool):
            raise ProtocolError(f"bad entry counts: {value!r}")
        entries = _int(fields.get("entries"))
        if entries < 0:
            raise ProtocolError(f"a negative entry count: {value!r}")
        return cls(
            entries=entries,
            imports=imports,
            hideable=hideable,
            once=_strs(fields.get("once")),
            hidden_form={
                module: [ErrorRecord.from_json(record) for record in _list(records)]
                for module, records in _dict(fields.get("hidden_form")).items()
            },
        )

    @classmethod
    def merged(cls, parts: list[EntryCounts]) -> EntryCounts:
        """One SCC's counts from those of the processes that shared its bodies."""
        merged = cls()
        for part in parts:
            merged.entries += part.entries
            merged.imports |= part.imports
            merged.hideable |= part.hideable
            merged.once.extend(part.once)
            merged.hidden_form.update(part.hidden_form)
        return merged
