"""What one task added to the engine's error map, for `--soft-error-limit` across processes.

With the limit, mypy hides a reported error or note once an import error has
been recorded and its error map holds at least the limit's number of entries
(notes, errors later hidden and load-time import errors included), counted in
the order one process adds them; at the first one hidden it gives an
only-once note saying so.  No worker sees that count.  So each reports, per
task, the entries it added in the order it added them (`Entry`: whose file,
whether the limit would hide it, whether it is an import error, its message
if it is an only-once note), and each module's errors as they would show
with its hideable entries hidden from the first, from the s-th, with or
without the note there (`split_forms`; build_worker/entry_log.py).  The
coordinator replays the count in mypy's order and picks (soft_limit.py).

A shared SCC's entries come from several processes: the owner's parse and
interface phase (slot `TASK`), then each module's bodies (a slot per module),
which one process adds in the SCC's order of modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mypy_split.header_values import JsonValue, ProtocolError
from mypy_split.header_values import dict_value as _dict
from mypy_split.header_values import int_value as _int
from mypy_split.header_values import list_value as _list
from mypy_split.header_values import str_value as _str

if TYPE_CHECKING:
    # At run time only where records are read: a run that starts no worker never imports the protocol.
    from mypy_split.protocol import ErrorRecord

# The slot of what an SCC's owner adds before the bodies: its parse and interface phase.
TASK = ""

_HIDEABLE = 1
_IMPORT = 2

# A module's errors with its hideable entries hidden from the s-th (0-based,
# in the order added) and whether the limit's note stands at that one.
SplitKey = tuple[int, bool]


@dataclass(frozen=True)
class Entry:
    # The SCC's module whose file holds it ("" for another file).
    module: str
    hideable: bool
    imports: bool
    # Its message, if it is an only-once note (one process adds it only once).
    once: str | None = None

    def to_json(self) -> JsonValue:
        return [self.module, (_HIDEABLE if self.hideable else 0) | (_IMPORT if self.imports else 0), self.once]

    @classmethod
    def from_json(cls, value: JsonValue) -> Entry:
        fields = _list(value)
        if len(fields) != 3 or not (fields[2] is None or isinstance(fields[2], str)):
            raise ProtocolError(f"bad error entry: {value!r}")
        flags = _int(fields[1])
        if not 0 <= flags <= _HIDEABLE | _IMPORT:
            raise ProtocolError(f"bad error entry flags: {value!r}")
        return cls(_str(fields[0]), bool(flags & _HIDEABLE), bool(flags & _IMPORT), fields[2])


@dataclass
class EntryCounts:
    # (slot, the entries added there in order): `TASK`, or a module whose bodies were checked.
    slots: list[tuple[str, list[Entry]]] = field(default_factory=list)
    # Per module with hideable entries: its errors with all of them hidden.
    hidden_form: dict[str, list[ErrorRecord]] = field(default_factory=dict)
    # Per module: its errors hidden from some entry on (`SplitKey`), where not too many to list.
    split_forms: dict[str, dict[SplitKey, list[ErrorRecord]]] = field(default_factory=dict)

    def sequence(self, order: list[str]) -> list[Entry]:
        """Every entry in the order one process checking the SCC adds them (`order`: its modules)."""
        rank = {module: index for index, module in enumerate(order)}
        slots = sorted(self.slots, key=lambda slot: -1 if slot[0] == TASK else rank.get(slot[0], len(rank)))
        return [entry for _, entries in slots for entry in entries]

    def to_json(self) -> JsonValue:
        return {
            "slots": [[key, [entry.to_json() for entry in entries]] for key, entries in self.slots],
            "hidden_form": {module: _records_json(records) for module, records in self.hidden_form.items()},
            "split_forms": {
                module: [[shown, note, _records_json(records)] for (shown, note), records in forms.items()]
                for module, forms in self.split_forms.items()
            },
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> EntryCounts:
        fields = _dict(value)
        slots = []
        for item in _list(fields.get("slots")):
            pair = _list(item)
            if len(pair) != 2:
                raise ProtocolError(f"bad entry slot: {item!r}")
            slots.append((_str(pair[0]), [Entry.from_json(entry) for entry in _list(pair[1])]))
        split_forms: dict[str, dict[SplitKey, list[ErrorRecord]]] = {}
        for module, forms in _dict(fields.get("split_forms")).items():
            split_forms[module] = {}
            for form in _list(forms):
                parts = _list(form)
                if len(parts) != 3 or not isinstance(parts[1], bool) or _int(parts[0]) < 0:
                    raise ProtocolError(f"bad split form: {form!r}")
                split_forms[module][(_int(parts[0]), parts[1])] = _records(parts[2])
        return cls(
            slots=slots,
            hidden_form={module: _records(records) for module, records in _dict(fields.get("hidden_form")).items()},
            split_forms=split_forms,
        )

    @classmethod
    def merged(cls, parts: list[EntryCounts]) -> EntryCounts:
        """One SCC's counts from those of the processes that shared its bodies."""
        merged = cls()
        for part in parts:
            merged.slots.extend(part.slots)
            merged.hidden_form.update(part.hidden_form)
            merged.split_forms.update(part.split_forms)
        return merged


def _records_json(records: list[ErrorRecord]) -> JsonValue:
    return [record.to_json() for record in records]


def _records(value: JsonValue) -> list[ErrorRecord]:
    from mypy_split.protocol import ErrorRecord

    return [ErrorRecord.from_json(record) for record in _list(value)]
