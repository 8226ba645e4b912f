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
its parse and interface phase add, every process the bodies it checks (a
module's key), and a helper's own interface phase, which repeats the
owner's, is recorded but not counted, so that the hidden form of each module
it checks still hides those entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from mypy import errorcodes
from mypy.errors import ErrorInfo, Errors, ErrorWatcher

from mypy_split.entry_counts import EntryCounts
from mypy_split.protocol import ErrorRecord

# The key of what an SCC's owner counts before the bodies: its parse and interface phase.
TASK = ""

_IMPORT_CODES = (errorcodes.IMPORT, errorcodes.IMPORT_UNTYPED, errorcodes.IMPORT_NOT_FOUND)


class EntryLog:
    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        # (file, info, key) per time the watcher saw an info while recording.
        self.seen: list[tuple[str, ErrorInfo, str | None]] = []
        self.recording = False
        # What the entries seen now count under; None: recorded, not counted.
        self.key: str | None = None
        self.watcher = ErrorWatcher(errors, filter_errors=self.see, filter_deprecated=True)

    def see(self, file: str, info: ErrorInfo) -> bool:
        if self.recording:
            self.seen.append((file, info, self.key))
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
    def counting(self, key: str | None) -> Iterator[None]:
        """Entries added meanwhile count under `key` (None: recorded only)."""
        outer = self.recording, self.key
        self.recording, self.key = True, key
        try:
            yield
        finally:
            self.recording, self.key = outer

    def counts(
        self, keys: Iterable[str], files: dict[str, str], shown: Callable[[list[str]], dict[str, list[ErrorRecord]]]
    ) -> EntryCounts:
        """What the entries under these keys add up to; hidden forms of the modules in `files` (id -> path)."""
        passes: dict[int, int] = {}
        last: dict[int, tuple[str, ErrorInfo, str | None]] = {}
        for file, info, key in self.seen:
            passes[id(info)] = passes.get(id(info), 0) + 1
            last[id(info)] = (file, info, key)
        in_map = {id(info) for file, _, _ in last.values() for info in self.errors.error_info_map.get(file, ())}
        wanted = set(keys)
        counted = [info for ident, (_, info, key) in last.items() if ident in in_map and key in wanted]
        hideable = {ident for ident, (_, info, _) in last.items() if passes[ident] >= 2 and info.code not in _IMPORT_CODES}
        return EntryCounts(
            entries=len(counted),
            imports=any(info.code in _IMPORT_CODES for info in counted),
            hideable=any(id(info) in hideable for info in counted),
            once=[info.message for info in counted if info.only_once],
            hidden_form=self.hidden_form(files, hideable, shown),
        )

    def hidden_form(
        self, files: dict[str, str], hideable: set[int], shown: Callable[[list[str]], dict[str, list[ErrorRecord]]]
    ) -> dict[str, list[ErrorRecord]]:
        """Each module's shown errors with the entries the limit would hide hidden, where it has some."""
        forms: dict[str, list[ErrorRecord]] = {}
        for module_id, path in files.items():
            hidden = [info for info in self.errors.error_info_map.get(path, ()) if id(info) in hideable]
            if not hidden:
                continue
            for info in hidden:
                info.hidden = True
            try:
                forms.update(shown([module_id]))
            finally:
                for info in hidden:
                    info.hidden = False
        return forms
