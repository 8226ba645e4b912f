"""A worker's record of the error entries its task adds, for `--soft-error-limit`.

A worker checks with the limit off and reports what the coordinator needs to
apply it in mypy's order (entry_counts.py).  An error watcher at the bottom
of the engine's stack sees every entry that no other watcher filters: an
error or note reported through the engine's usual path passes it twice (before
the checks for ignored lines and repeated only-once notes, then on being
added), one added directly (a note for an existing error, an unused
`type: ignore`) once.  So an entry is one the limit would hide when it passed
twice and its code is not an import error's.

Which entries count depends on the process: the owner of an SCC counts what
its parse and interface phase add (slot `TASK`), every process the bodies it
checks (a slot per module), and a helper's own interface phase, which
repeats the owner's, is recorded but not counted, so that its forms of the
modules it checks still hide those entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mypy import errorcodes
from mypy.errors import ErrorInfo, Errors, ErrorWatcher

from mypy_split.entry_counts import Entry, EntryCounts, SplitKey
from mypy_split.protocol import ErrorRecord

_IMPORT_CODES = (errorcodes.IMPORT, errorcodes.IMPORT_UNTYPED, errorcodes.IMPORT_NOT_FOUND)

# Split forms are listed for modules with at most this many hideable entries
# (2n - 1 renderings of the module); where one with more is needed, the
# coordinator checks the SCC again itself.
MOST_SPLIT_ENTRIES = 100

Shown = Callable[[list[str]], dict[str, list[ErrorRecord]]]


class EntryLog:
    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        # Per time the watcher saw an info while recording: (file, the file's
        # number of entries then, info, slot).  An entry added on that call
        # lands at that index (the engine may add one info object more than once).
        self.seen: list[tuple[str, int, ErrorInfo, str | None]] = []
        self.recording = False
        # The slot what is seen now counts in; None: recorded, not counted.
        self.slot: str | None = None
        self.watcher = ErrorWatcher(errors, filter_errors=self.see, filter_deprecated=True)

    def see(self, file: str, info: ErrorInfo) -> bool:
        if self.recording:
            self.seen.append((file, len(self.errors.error_info_map.get(file, ())), info, self.slot))
        return False  # Never filtered here.

    def begin_task(self) -> None:
        """Forget the last task's entries; the watcher goes to the bottom of the stack if not there."""
        self.seen.clear()
        watchers = self.errors._watchers
        if not watchers or watchers[0] is not self.watcher:
            if self.watcher in watchers:
                watchers.remove(self.watcher)
            watchers.insert(0, self.watcher)

    @contextmanager
    def counting(self, slot: str | None) -> Iterator[None]:
        """Entries added meanwhile count in `slot` (None: recorded only)."""
        outer = self.recording, self.slot
        self.recording, self.slot = True, slot
        try:
            yield
        finally:
            self.recording, self.slot = outer

    def additions(self) -> list[Addition]:
        """Each entry added while recording, in the order added."""
        calls: dict[tuple[str, int], list[tuple[int, ErrorInfo, str | None]]] = {}
        for order, (file, index, info, slot) in enumerate(self.seen):
            calls.setdefault((file, index), []).append((order, info, slot))
        added = []
        for (file, index), seen in calls.items():
            infos = self.errors.error_info_map.get(file, [])
            if index >= len(infos):
                continue
            occupant = infos[index]
            passes = [(order, slot) for order, info, slot in seen if info is occupant]
            if passes:
                order, slot = passes[-1]
                # Twice: through the engine's checks first, where the limit applies.
                hideable = len(passes) >= 2 and occupant.code not in _IMPORT_CODES
                added.append(Addition(order, file, index, occupant, slot, hideable))
        return sorted(added, key=lambda addition: addition.order)

    def counts(self, slots: list[str], scc_files: dict[str, str], checked: dict[str, str], shown: Shown) -> EntryCounts:
        """The entries added in these slots, and the forms of the modules checked here (id -> path).

        `scc_files` maps the path of each of the SCC's modules to its id.
        """
        additions = self.additions()
        by_slot: dict[str, list[Entry]] = {slot: [] for slot in slots}
        for addition in additions:
            if addition.slot in by_slot:
                info = addition.info
                entry = Entry(
                    scc_files.get(addition.file, ""), addition.hideable, info.code in _IMPORT_CODES,
                    info.message if info.only_once else None,
                )
                by_slot[addition.slot].append(entry)
        forms = Forms(self.errors, shown)
        for module_id, path in checked.items():
            forms.add(module_id, path, [a.index for a in additions if a.file == path and a.hideable])
        return EntryCounts(
            slots=[(slot, entries) for slot, entries in by_slot.items() if entries],
            hidden_form=forms.hidden,
            split_forms=forms.split,
        )


@dataclass(frozen=True)
class Addition:
    order: int
    file: str
    # Where in the file's entries.
    index: int
    info: ErrorInfo
    slot: str | None
    hideable: bool


class Forms:
    """A module's shown errors with its hideable entries hidden from one of them on."""

    def __init__(self, errors: Errors, shown: Shown) -> None:
        self.errors = errors
        self.shown = shown
        self.hidden: dict[str, list[ErrorRecord]] = {}
        self.split: dict[str, dict[SplitKey, list[ErrorRecord]]] = {}

    def add(self, module_id: str, path: str, hideable: list[int]) -> None:
        """Forms of a module whose hideable entries are at these indexes of its file's entries, in the order added."""
        if not hideable:
            return
        self.hidden[module_id] = self.render(module_id, path, hideable, None)
        if len(hideable) > MOST_SPLIT_ENTRIES:
            return
        split: dict[SplitKey, list[ErrorRecord]] = {}
        for first in range(len(hideable)):
            for note in (False, True):
                if first or note:
                    split[(first, note)] = self.render(module_id, path, hideable[first:], hideable[first] if note else None)
        self.split[module_id] = split

    def render(self, module_id: str, path: str, hidden: list[int], note_at: int | None) -> list[ErrorRecord]:
        """The module's errors with the entries at `hidden` hidden and the engine's note before `note_at`.

        As in the engine, hiding is a mark on the info object: one added
        twice, before and after the first hidden, is hidden at both places.
        """
        errors = self.errors
        infos = errors.error_info_map[path]
        once_before = set(errors.only_once_messages)
        flushed = path in errors.flushed_files
        marked = [infos[index] for index in hidden]
        if note_at is not None:
            # The engine closed the file once the module was done; it takes no entry otherwise.
            errors.flushed_files.discard(path)
            errors.report_hidden_errors(path, infos[note_at])
            # Added last; one process adds it just before the first error it hides.
            infos.insert(note_at, infos.pop())
        for info in marked:
            info.hidden = True
        try:
            return self.shown([module_id]).get(module_id, [])
        finally:
            for info in marked:
                info.hidden = False
            if note_at is not None:
                del infos[note_at]
            errors.only_once_messages.intersection_update(once_before)
            if flushed:
                errors.flushed_files.add(path)
