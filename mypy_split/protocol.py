"""Messages between the coordinator and its workers, and how each is encoded.

A frame is `u32 length` + body; a body is `u8 kind`, `u32 header length`, a
header, then binary attachments (each `u32 length` + bytes) for the engine's
own serialized objects (module states, error infos).  A header holds only
JSON's kinds of values (None, bools, numbers, strings, lists, dicts with
string keys).  The handshake's (Hello, Ready) is JSON, so that processes of
different versions still read each other's version; every other header is
encoded with `marshal`, which both ends read alike (workers run the
coordinator's interpreter) and which on thousands of small tasks costs a
fifth of what `json` does.  Each message
type is a small record with `encode`/`decode` beside it; nothing here knows
about processes or the engine.  Reading and writing frames on a pipe is
framing.py's.
"""

from __future__ import annotations

import json
import marshal
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from mypy_split.header_values import FileStat as FileStat
from mypy_split.header_values import JsonValue as JsonValue
from mypy_split.header_values import OrderRecord as OrderRecord
from mypy_split.header_values import ProtocolError as ProtocolError
from mypy_split.header_values import TimedSpan as TimedSpan
from mypy_split.header_values import dict_value as _dict
from mypy_split.header_values import file_stat as _file_stat
from mypy_split.header_values import float_value as _float
from mypy_split.header_values import indirect as _indirect
from mypy_split.header_values import int_value as _int
from mypy_split.header_values import list_value as _list
from mypy_split.header_values import sensitivity_level as _sensitivity
from mypy_split.header_values import spans as _spans
from mypy_split.header_values import spans_json as _spans_json
from mypy_split.header_values import stored_orders as _stored_orders
from mypy_split.header_values import stored_orders_json as _stored_orders_json
from mypy_split.header_values import str_list as _strs
from mypy_split.header_values import str_value as _str

if TYPE_CHECKING:
    from mypy_split.entry_counts import EntryCounts
    from mypy_split.report_records import TaskReports

PROTOCOL_VERSION = 23

U32 = struct.Struct(">I")
_KIND = struct.Struct(">B")

# The task id of a head start's results (head_start.py): the worker knows no SCC ids yet.
HEAD_START_SCC = -1


# An error as the coordinator formats it: the engine's error tuple plus whether
# the engine reported it as an only-once note.
@dataclass(frozen=True)
class ErrorRecord:
    file: str | None
    line: int
    column: int
    end_line: int
    end_column: int
    severity: str
    message: str
    code: str | None
    only_once: bool = False

    def engine_tuple(self) -> tuple[str | None, int, int, int, int, str, str, str | None]:
        return (
            self.file, self.line, self.column, self.end_line, self.end_column,
            self.severity, self.message, self.code,
        )

    def to_json(self) -> list[JsonValue]:
        return [*self.engine_tuple(), self.only_once]

    @classmethod
    def from_json(cls, value: JsonValue) -> ErrorRecord:
        if not isinstance(value, list) or len(value) != 9:
            raise ProtocolError(f"bad error record: {value!r}")
        file, line, column, end_line, end_column, severity, message, code, only_once = value
        if not (
            (file is None or isinstance(file, str))
            and isinstance(line, int) and isinstance(column, int)
            and isinstance(end_line, int) and isinstance(end_column, int)
            and isinstance(severity, str) and isinstance(message, str)
            and (code is None or isinstance(code, str)) and isinstance(only_once, bool)
        ):
            raise ProtocolError(f"bad error record: {value!r}")
        return cls(file, line, column, end_line, end_column, severity, message, code, only_once)


@dataclass
class Message:
    """Base of all messages: a kind number, a header and attachments."""

    KIND: ClassVar[int] = 0

    def header(self) -> dict[str, JsonValue]:
        return {}

    def attachments(self) -> list[bytes]:
        return []


@dataclass
class Hello(Message):
    """Coordinator -> worker, first: how to build the same options as the coordinator."""

    KIND: ClassVar[int] = 1
    version: int
    argv: list[str]
    cwd: str
    # Replaces the cache folder the arguments give (a private one when they disable it).
    cache_dir: str | None = None
    # With report options: where the worker's reporters write their pages, one folder per task.
    report_root: str | None = None
    # Check the builtins cycle at once, before the graph arrives (see head_start.py).
    head_start: bool = False

    def header(self) -> dict[str, JsonValue]:
        return {
            "version": self.version, "argv": list(self.argv), "cwd": self.cwd, "cache_dir": self.cache_dir,
            "report_root": self.report_root, "head_start": self.head_start,
        }


@dataclass
class Ready(Message):
    """Worker -> coordinator: set up (or not: `error` lines say why), with its pid.

    `ready_at`: when it was (`time.monotonic()`, the same clock in every
    process of the machine), so that its start-up span ends there and not
    when the coordinator got round to reading this.
    """

    KIND: ClassVar[int] = 2
    version: int
    pid: int
    error: list[str] = field(default_factory=list)
    ready_at: float = 0.0

    def header(self) -> dict[str, JsonValue]:
        return {"version": self.version, "pid": self.pid, "error": list(self.error), "ready_at": self.ready_at}


@dataclass
class GraphData(Message):
    """Coordinator -> worker: the module graph and its SCCs, sent once."""

    KIND: ClassVar[int] = 3
    # Module states as the engine serializes them (State.write), one attachment each.
    states: list[bytes]
    missing_modules: dict[str, int]
    from_cache: list[str]
    # [scc id, module ids, dependency scc ids, hash of its transitive import
    # structure (hex)], in topological order.  The hash goes into each
    # module's meta, where the next run compares it to decide whether to check
    # indirect dependencies; a state read back from State.write has none.
    sccs: list[tuple[int, list[str], list[int], str]]

    def header(self) -> dict[str, JsonValue]:
        return {
            "missing_modules": dict(self.missing_modules),
            "from_cache": list(self.from_cache),
            "sccs": [[scc_id, list(mods), list(deps), imports] for scc_id, mods, deps, imports in self.sccs],
        }

    def attachments(self) -> list[bytes]:
        return self.states


@dataclass
class CheckScc(Message):
    """Coordinator -> worker: check one stale SCC, interface then implementation.

    Several small ones may come in one write, a batch: all but the last
    hold their results for the last one's (`hold_results`, batches.py).
    """

    KIND: ClassVar[int] = 4
    scc_id: int
    one_piece: bool
    # The interface hash (hex) each module of the task's dependencies (and of
    # its `recheck`) must have in the cache, less those this worker was sent
    # before with the same value: a worker keeps every hash it is sent.
    expected_hashes: dict[str, str]
    # Per module: suppressed-deps options (bytes) and import errors (ErrorInfo bytes).
    module_ids: list[str]
    suppressed_opts: list[bytes]
    import_errors: list[list[bytes]]
    # A big SCC's implementation phase shared among workers: after the
    # interface, the task asks for modules (TakeBodies) until it gets none.
    shared: bool = False
    # A helper repeats the interface phase without writing the cache, sends no
    # InterfaceDone, and leaves its modules' `meta_ex` to the coordinator.
    helper: bool = False
    # SCCs this worker must check in memory first, in dependency order, without
    # writing the cache or reporting errors: the task's dependencies whose
    # cached form would change its answer and that another process checked.
    # Their modules, in the same order, and each one's suppressed-deps options.
    recheck: list[int] = field(default_factory=list)
    recheck_modules: list[str] = field(default_factory=list)
    recheck_opts: list[bytes] = field(default_factory=list)
    # Per module: the native parser's serialized tree kept by the coordinator
    # (FileRawData bytes; empty where the worker must read and parse the file),
    # and the file's stat as the coordinator took it (os.stat_result fields).
    raw_trees: list[bytes] = field(default_factory=list)
    stats: list[FileStat | None] = field(default_factory=list)
    # Per module: the `# type: ignore` codes on its import lines, by line, as
    # the coordinator's state has them (its meta records them; a later run
    # that loads the module from the cache judges import errors by them).
    imports_ignored: list[dict[int, list[str]]] = field(default_factory=list)
    # Whether the worker collects garbage before building this task's trees;
    # near the build's end the coordinator says no (tuning.collect_tail_seconds).
    collect_garbage: bool = True
    # A small task: its InterfaceDone waits for its ImplementationDone, and
    # both go in one write (one wake-up of the coordinator instead of two).
    results_together: bool = False
    # One of a batch of small tasks written together: more follow, and this
    # task's results wait to go out with those of the batch's last task (one
    # write and one wake-up of the coordinator for the whole batch).
    hold_results: bool = False
    # The orders the cache loses of modules checked in this run, by module
    # (stored_order.py), that this worker was not sent before.
    stored_orders: dict[str, list[OrderRecord]] = field(default_factory=dict)

    def header(self) -> dict[str, JsonValue]:
        return {
            "scc_id": self.scc_id,
            "one_piece": self.one_piece,
            "expected_hashes": dict(self.expected_hashes),
            "module_ids": list(self.module_ids),
            "error_counts": [len(errors) for errors in self.import_errors],
            "shared": self.shared,
            "helper": self.helper,
            "recheck": list(self.recheck),
            "recheck_modules": list(self.recheck_modules),
            "raw_tree_count": len(self.raw_trees),
            "stats": [None if stat is None else list(stat) for stat in self.stats],
            "imports_ignored": [
                [[line, list(codes)] for line, codes in ignored.items()] for ignored in self.imports_ignored
            ],
            "collect_garbage": self.collect_garbage,
            "results_together": self.results_together,
            "hold_results": self.hold_results,
            "stored_orders": _stored_orders_json(self.stored_orders),
        }

    def attachments(self) -> list[bytes]:
        flat = list(self.suppressed_opts)
        for errors in self.import_errors:
            flat.extend(errors)
        flat.extend(self.recheck_opts)
        flat.extend(self.raw_trees)
        return flat


@dataclass
class InterfaceDone(Message):
    """Worker -> coordinator: an SCC's interface is committed to the cache."""

    KIND: ClassVar[int] = 5
    scc_id: int
    interface_hashes: dict[str, str]
    seconds: float
    # What the worker did since its last message, for --trace and --stats.
    spans: list[TimedSpan] = field(default_factory=list)
    # How differently importers may see the SCC's modules from the cache: the
    # most sensitive module's `sensitive.Sensitivity` (0: not at all).
    sensitivity: int = 0
    # Per module, the hash of the source checked: the coordinator, which may
    # not have read the file, checks a meta it writes beside (`meta_pairing.py`).
    source_hashes: dict[str, str] = field(default_factory=dict)
    # Per module, the orders its cache entry does not keep (stored_order.py).
    stored_orders: dict[str, list[OrderRecord]] = field(default_factory=dict)

    def header(self) -> dict[str, JsonValue]:
        return {
            "scc_id": self.scc_id,
            "interface_hashes": dict(self.interface_hashes),
            "seconds": self.seconds,
            "spans": _spans_json(self.spans),
            "sensitivity": self.sensitivity,
            "source_hashes": dict(self.source_hashes),
            "stored_orders": _stored_orders_json(self.stored_orders),
        }


@dataclass
class ImplementationDone(Message):
    """Worker -> coordinator: bodies checked, `meta_ex` written; errors per module."""

    KIND: ClassVar[int] = 6
    scc_id: int
    errors: dict[str, list[ErrorRecord]]
    missing_stub_packages: list[str]
    seconds: float
    # Fine-grained dependencies found by this task (trigger -> targets), sent
    # only with --cache-fine-grained: the coordinator writes `*.deps.json`.
    fine_grained_deps: dict[str, list[str]] = field(default_factory=dict)
    spans: list[TimedSpan] = field(default_factory=list)
    # With report options: the reporters' entries for the files this task checked.
    reports: TaskReports | None = None
    # From a helper: per module of its share, the indirect dependencies and
    # suppressed indirect dependencies its `meta_ex` must list.
    indirect: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    # From an owner that forked copies of itself for the bodies (Bodies.forks): each copy's spans.
    forked_spans: list[list[TimedSpan]] = field(default_factory=list)
    # With `--soft-error-limit`: what the task added to the error map (entry_counts.py).
    entries: EntryCounts | None = None
    # The errors print a signature whose function, loaded from the cache here,
    # may have been printed without its argument list (stored_order.StoredOrders):
    # the coordinator checks the SCC again (confirm.py).
    signatures_unrestored: bool = False

    def header(self) -> dict[str, JsonValue]:
        return {
            "scc_id": self.scc_id,
            "errors": {
                module: [record.to_json() for record in records]
                for module, records in self.errors.items()
            },
            "missing_stub_packages": list(self.missing_stub_packages),
            "seconds": self.seconds,
            "fine_grained_deps": {
                trigger: list(targets) for trigger, targets in self.fine_grained_deps.items()
            },
            "spans": _spans_json(self.spans),
            "reports": None if self.reports is None else self.reports.to_json(),
            "indirect": {
                module: [list(deps), list(suppressed)] for module, (deps, suppressed) in self.indirect.items()
            },
            "forked_spans": [_spans_json(spans) for spans in self.forked_spans],
            "entries": None if self.entries is None else self.entries.to_json(),
            "signatures_unrestored": self.signatures_unrestored,
        }


@dataclass
class TaskFailed(Message):
    """Worker -> coordinator: a task ended in a blocker or an internal error."""

    KIND: ClassVar[int] = 7
    scc_id: int
    blocker: bool
    lines: list[str]

    def header(self) -> dict[str, JsonValue]:
        return {"scc_id": self.scc_id, "blocker": self.blocker, "lines": list(self.lines)}


@dataclass
class TakeBodies(Message):
    """Worker -> coordinator: ready for (more) bodies of a shared SCC."""

    KIND: ClassVar[int] = 9
    scc_id: int

    def header(self) -> dict[str, JsonValue]:
        return {"scc_id": self.scc_id}


@dataclass
class Bodies(Message):
    """Coordinator -> worker: check these modules' bodies next; none means the task is done.

    With `forks`, the owner checks them together with that many forked copies
    of itself (build_worker/forked.py), on the CPUs of workers kept idle meanwhile.
    """

    KIND: ClassVar[int] = 10
    scc_id: int
    module_ids: list[str]
    forks: int = 0

    def header(self) -> dict[str, JsonValue]:
        return {"scc_id": self.scc_id, "module_ids": list(self.module_ids), "forks": self.forks}


@dataclass
class HeadStart(Message):
    """Worker -> coordinator: the builtins cycle it checks ahead (per module, `head_start.describe`), or
    why not (`modules` empty); its results then come as a task's, under `HEAD_START_SCC`."""

    KIND: ClassVar[int] = 11
    modules: list[dict[str, JsonValue]]
    one_piece: bool = False
    declined: str = ""

    def header(self) -> dict[str, JsonValue]:
        return {"modules": list(self.modules), "one_piece": self.one_piece, "declined": self.declined}


@dataclass
class Shutdown(Message):
    """Coordinator -> worker: exit now."""

    KIND: ClassVar[int] = 8


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.KIND: cls
    for cls in (
        Hello, Ready, GraphData, CheckScc, InterfaceDone, ImplementationDone, TaskFailed, Shutdown,
        TakeBodies, Bodies, HeadStart,
    )
}


# Kinds whose header is JSON in every version (see the module doc).
_HANDSHAKE_KINDS = frozenset({Hello.KIND, Ready.KIND})


def encode(message: Message) -> bytes:
    """The whole frame for a message, length prefix included."""
    if message.KIND in _HANDSHAKE_KINDS:
        header = json.dumps(message.header(), separators=(",", ":")).encode()
    else:
        header = marshal.dumps(message.header())
    parts = [_KIND.pack(message.KIND), U32.pack(len(header)), header]
    for attachment in message.attachments():
        parts.append(U32.pack(len(attachment)))
        parts.append(attachment)
    body = b"".join(parts)
    return U32.pack(len(body)) + body


def decode(body: bytes) -> Message:
    """A message from a frame body (without its length prefix)."""
    if len(body) < _KIND.size + U32.size:
        raise ProtocolError("truncated frame")
    (kind,) = _KIND.unpack_from(body, 0)
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown message kind {kind}")
    (header_length,) = U32.unpack_from(body, _KIND.size)
    start = _KIND.size + U32.size
    if start + header_length > len(body):
        raise ProtocolError("truncated header")
    raw_header = body[start : start + header_length]
    try:
        header = json.loads(raw_header) if kind in _HANDSHAKE_KINDS else marshal.loads(raw_header)
    except (ValueError, EOFError, TypeError) as error:
        raise ProtocolError(f"bad header: {error}") from error
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    attachments = _split_attachments(body, start + header_length)
    try:
        return _build(cls, header, attachments)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ProtocolError(f"bad {cls.__name__} message: {error!r}") from error


def _split_attachments(body: bytes, offset: int) -> list[bytes]:
    attachments = []
    while offset < len(body):
        if offset + U32.size > len(body):
            raise ProtocolError("truncated attachment length")
        (length,) = U32.unpack_from(body, offset)
        offset += U32.size
        if offset + length > len(body):
            raise ProtocolError("truncated attachment")
        attachments.append(body[offset : offset + length])
        offset += length
    return attachments


def _build(cls: type[Message], h: dict[str, JsonValue], attachments: list[bytes]) -> Message:
    if cls is Hello:
        cache_dir = h["cache_dir"]
        # Read leniently: Hello carries the version check, so it must decode across versions.
        report_root = h.get("report_root")
        return Hello(
            version=_int(h["version"]), argv=_strs(h["argv"]), cwd=_str(h["cwd"]),
            cache_dir=None if cache_dir is None else _str(cache_dir),
            report_root=None if report_root is None else _str(report_root),
            head_start=h.get("head_start") is True,
        )
    if cls is Ready:
        # Read leniently too: a worker of another version answers with Ready.
        ready_at = h.get("ready_at")
        return Ready(
            version=_int(h["version"]), pid=_int(h["pid"]), error=_strs(h["error"]),
            ready_at=float(ready_at) if isinstance(ready_at, (int, float)) else 0.0,
        )
    if cls is GraphData:
        sccs = []
        for item in _list(h["sccs"]):
            scc_id, mods, deps, imports = _list(item)
            sccs.append((_int(scc_id), _strs(mods), [_int(d) for d in _list(deps)], _str(imports)))
        missing = {key: _int(value) for key, value in _dict(h["missing_modules"]).items()}
        return GraphData(
            states=attachments, missing_modules=missing, from_cache=_strs(h["from_cache"]), sccs=sccs
        )
    if cls is CheckScc:
        return _check_scc(h, attachments)
    if cls is InterfaceDone:
        hashes = {key: _str(value) for key, value in _dict(h["interface_hashes"]).items()}
        return InterfaceDone(
            scc_id=_int(h["scc_id"]), interface_hashes=hashes, seconds=_float(h["seconds"]),
            spans=_spans(h["spans"]), sensitivity=_sensitivity(h["sensitivity"]),
            source_hashes={key: _str(value) for key, value in _dict(h["source_hashes"]).items()},
            stored_orders=_stored_orders(h["stored_orders"]),
        )
    if cls is ImplementationDone:
        errors = {
            module: [ErrorRecord.from_json(record) for record in _list(records)]
            for module, records in _dict(h["errors"]).items()
        }
        reports = h["reports"]
        return ImplementationDone(
            scc_id=_int(h["scc_id"]), errors=errors,
            missing_stub_packages=_strs(h["missing_stub_packages"]), seconds=_float(h["seconds"]),
            fine_grained_deps={
                trigger: _strs(targets) for trigger, targets in _dict(h["fine_grained_deps"]).items()
            },
            spans=_spans(h["spans"]),
            reports=None if reports is None else _task_reports(reports),
            indirect={module: _indirect(value) for module, value in _dict(h["indirect"]).items()},
            forked_spans=[_spans(spans) for spans in _list(h["forked_spans"])],
            entries=None if h["entries"] is None else _entry_counts(h["entries"]),
            signatures_unrestored=bool(h["signatures_unrestored"]),
        )
    if cls is TakeBodies:
        return TakeBodies(scc_id=_int(h["scc_id"]))
    if cls is Bodies:
        return Bodies(scc_id=_int(h["scc_id"]), module_ids=_strs(h["module_ids"]), forks=_int(h["forks"]))
    if cls is HeadStart:
        return HeadStart(
            modules=[_dict(item) for item in _list(h["modules"])], one_piece=bool(h["one_piece"]),
            declined=_str(h["declined"]),
        )
    if cls is TaskFailed:
        return TaskFailed(scc_id=_int(h["scc_id"]), blocker=bool(h["blocker"]), lines=_strs(h["lines"]))
    return Shutdown()


def _check_scc(h: dict[str, JsonValue], attachments: list[bytes]) -> CheckScc:
    module_ids = _strs(h["module_ids"])
    recheck_modules = _strs(h["recheck_modules"])
    counts = [_int(count) for count in _list(h["error_counts"])]
    raw_count = _int(h["raw_tree_count"])
    expected_attachments = len(module_ids) + sum(counts) + len(recheck_modules) + raw_count
    if len(counts) != len(module_ids) or len(attachments) != expected_attachments:
        raise ProtocolError("CheckScc attachments do not match its header")
    opts, rest = attachments[: len(module_ids)], attachments[len(module_ids) :]
    import_errors = []
    for count in counts:
        import_errors.append(rest[:count])
        rest = rest[count:]
    stats = [None if stat is None else _file_stat(stat) for stat in _list(h["stats"])]
    imports_ignored = [
        {_int(line): _strs(codes) for line, codes in (_list(pair) for pair in _list(ignored))}
        for ignored in _list(h["imports_ignored"])
    ]
    if any(count not in (0, len(module_ids)) for count in (len(stats), len(imports_ignored), raw_count)):
        raise ProtocolError("CheckScc per-module lists do not match its modules")
    recheck_opts, raw_trees = rest[: len(recheck_modules)], rest[len(recheck_modules) :]
    hashes = {key: _str(value) for key, value in _dict(h["expected_hashes"]).items()}
    return CheckScc(
        scc_id=_int(h["scc_id"]), one_piece=bool(h["one_piece"]), expected_hashes=hashes,
        module_ids=module_ids, suppressed_opts=opts, import_errors=import_errors,
        shared=bool(h["shared"]), helper=bool(h["helper"]),
        recheck=[_int(scc_id) for scc_id in _list(h["recheck"])],
        recheck_modules=recheck_modules, recheck_opts=recheck_opts, raw_trees=raw_trees, stats=stats,
        imports_ignored=imports_ignored, collect_garbage=bool(h["collect_garbage"]),
        results_together=bool(h["results_together"]), hold_results=bool(h["hold_results"]),
        stored_orders=_stored_orders(h["stored_orders"]),
    )


def _task_reports(value: JsonValue) -> TaskReports:
    # Imported only by runs with report options.
    from mypy_split.report_records import TaskReports

    return TaskReports.from_json(value)


def _entry_counts(value: JsonValue) -> EntryCounts:
    # Imported only by runs with `--soft-error-limit`.
    from mypy_split.entry_counts import EntryCounts

    return EntryCounts.from_json(value)
