"""A module's errors (`meta_ex`) are read and left only beside the meta they belong to.

mypy (sequential too) commits a module's meta when its interface is checked
and its `meta_ex` only after the bodies, and leaves the old `meta_ex` in place
meanwhile; mypy-split writes in the same two steps.  A plain `mypy` sharing
the cache folder does not take our lock (cachelock.py), so its commits can
fall between ours, and one run's meta can end up beside another run's errors
(say `--strict` errors beside a default meta): a run finding that pair fresh
prints the wrong errors.

Writing: every `meta_ex` this process writes is checked right after the
write, before it is committed.  The meta now stored must describe the inputs
this process checked the module with (source hash, options, interface, the
interfaces of its dependencies); otherwise the `meta_ex` is removed, which
leaves the module stale: the next run checks it again, nothing worse.  After
the write and not before: in the SQLite store the write takes the shard's
write lock, so nothing can be committed between the check and our commit; in
the file store a sequential writer replaces the meta before its `meta_ex`,
so a meta read after our write either is ours, or belongs to a writer whose
`meta_ex` lands after ours or was already removed by us.

Reading (SQLite store): with each `meta_ex` it keeps, this process records
in a table of its own beside mypy's (`mypy_split_pairs`, which mypy ignores)
the entry's time and a fingerprint of the meta it belongs to (the meta
without its stat fields).  When a run opens its snapshot of the store
(`consistent_cache_reads`), a recorded `meta_ex` is removed, so the module is
checked again, if

- the `meta_ex` was replaced since while the meta is not newer than ours: a
  `mypy` run that committed its meta before ours wrote its errors after ours;
- the meta was replaced since, our errors still there, and its fingerprint
  differs: a `mypy` run has committed its meta and not yet its errors.  A meta
  that a run only refreshed (a touched file, the same hash) keeps its
  fingerprint and its errors; this process also puts a fresh time on the
  `meta_ex` of each meta it refreshes during the load.

Reading (file store): the same records, kept in a SQLite file of their own
in the cache folder (`mypy_split_pairs.db`), name each file of the pair by
its identity (time in nanoseconds, inode, size) rather than its time: the
engine's file times are whole seconds, and a file replaced within one clock
tick keeps its time but not its inode.  Before the graph loads, a recorded
pair whose errors file was replaced while its meta was not loses the errors;
one whose meta was replaced while the errors were not keeps them only if the
new meta's fingerprint is the recorded one; one replaced whole is another
run's pair.  The file store has no snapshot: a writer can still replace a
file between that check and the engine's read, as between any two reads of
mypy's own.

Pairs written by a plain `mypy` alone carry no record: they are read as
mypy itself reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator

import mypy.build
from librt.internal import ReadBuffer, cache_version
from mypy.build import PRI_INDIRECT, BuildManager, Graph, State
from mypy.cache import CACHE_VERSION, CacheMeta, WriteBuffer
from mypy.metastore import FilesystemMetadataStore, MetadataStore, SqliteMetadataStore
from mypy.util import json_loads

from mypy_split.engine import SQLITE_BUSY_TIMEOUT_S


def keep_only_beside_own_meta(
    module_id: str, meta_file: str, graph: Graph, manager: BuildManager, source_hash: str | None = None
) -> bool:
    """Remove the just-written `meta_ex` unless the stored meta is this run's; then commit it.

    `source_hash` is the hash of the source the module was checked from, where
    another process checked it (this process may never have read the file).
    Returns whether the `meta_ex` was kept.
    """
    state = graph[module_id]
    errors_file = mypy.build.get_meta_ex_name(meta_file)
    # Taken before the read: a meta replaced after it shows as changed.
    meta_identity = stored_identity(manager.metastore, meta_file)
    try:
        raw = manager.metastore.read(meta_file)
    except OSError:
        raw = None
    stored = None if raw is None else decode_meta(raw, manager.options.fixed_format_cache)
    kept = stored is not None and stored_meta_matches(stored, state, source_hash or state.source_hash, graph, manager)
    if not kept:
        manager.log(f"Another process rewrote the meta of {module_id}: its errors are not cached")
        try:
            manager.metastore.remove(errors_file)
        except OSError:
            pass
    fingerprint = fingerprint_of(stored, manager.options.fixed_format_cache) if kept and stored is not None else None
    record_own_errors(manager.metastore, errors_file, fingerprint, meta_identity)
    manager.commit_module(meta_file)
    return kept


def stored_meta_matches(
    stored: CacheMeta, state: State, source_hash: str | None, graph: Graph, manager: BuildManager
) -> bool:
    """Whether the stored meta was written for the version of the module this run checked.

    Its output fields (stat, data mtime) may differ: another run with the
    same inputs stores the same interface and errors.
    """
    if source_hash is None:
        return False
    return (
        stored.hash == source_hash
        and stored.interface_hash == state.interface_hash
        and stored.options == expected_options(state, manager)
        and stored.dep_hashes == [graph[dep].interface_hash if dep in graph else b"" for dep in stored.dependencies]
        and stored.dependencies == direct_dependencies(state)
    )


def decode_meta(raw: bytes, fixed_format: bool) -> CacheMeta | None:
    """A stored meta decoded as the engine decodes it; None if it cannot be."""
    try:
        if fixed_format:
            if raw[:2] != bytes([cache_version(), CACHE_VERSION]):
                return None
            return CacheMeta.read(ReadBuffer(raw[2:]), "")
        return CacheMeta.deserialize(json_loads(raw), "")
    except Exception:
        # Whatever another process left there, it is not a meta we wrote.
        return None


def meta_fingerprint(raw: bytes) -> str | None:
    """A digest of a stored meta without its stat fields, which a refresh rewrites."""
    fixed_format = raw[:2] == bytes([cache_version(), CACHE_VERSION])
    meta = decode_meta(raw, fixed_format)
    return None if meta is None else fingerprint_of(meta, fixed_format)


def fingerprint_of(meta: CacheMeta, fixed_format: bool) -> str:
    """`meta_fingerprint` of a meta already decoded (which this changes: it is not kept)."""
    meta.mtime = 0
    meta.path = ""
    if fixed_format:
        buffer = WriteBuffer()
        meta.write(buffer)
        body = buffer.getvalue()
    else:
        body = json.dumps(meta.serialize(), sort_keys=True, default=repr).encode()
    return hashlib.sha256(body).hexdigest()


def expected_options(state: State, manager: BuildManager) -> dict[str, object]:
    """The options record the engine stores in a meta it writes for this module now."""
    return mypy.build.options_snapshot(state.id, manager) | {
        "local_partial_types": state.options.local_partial_types,
        "is_parallel": state.options.num_workers > 0,
    }


def direct_dependencies(state: State) -> list[str]:
    """The dependencies a meta lists: all but the indirect ones, which go to `meta_ex`."""
    return [dep for dep in state.dependencies if state.priorities.get(dep) != PRI_INDIRECT]


# This process's record of the `meta_ex` entries it kept: their time and the
# fingerprint of their meta, in each shard of the SQLite store.
_PAIRS_SCHEMA = "CREATE TABLE IF NOT EXISTS mypy_split_pairs (path TEXT PRIMARY KEY, mtime REAL, meta TEXT)"
_HAS_PAIRS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mypy_split_pairs'"

# Recorded `meta_ex` entries changed since: the entry replaced while the meta is
# not newer than it (suspect as it is), or the meta replaced while the entry is
# ours (suspect unless its fingerprint is the same).  Entry names differ only
# there: `pkg/mod.meta.ff` and `pkg/mod.meta_ex.ff` (`.json` alike).
_CHANGED_PAIRS = """
SELECT own.path, errors.mtime = own.mtime, meta.data, own.meta
FROM mypy_split_pairs AS own
JOIN files2 AS errors ON errors.path = own.path
JOIN files2 AS meta ON meta.path = replace(own.path, '.meta_ex.', '.meta.')
WHERE (errors.mtime != own.mtime AND meta.mtime <= own.mtime)
   OR (errors.mtime = own.mtime AND meta.mtime > own.mtime)
"""
# The `meta_ex` entries of the metas written since a moment.
_REFRESHED = "SELECT replace(path, '.meta.', '.meta_ex.') FROM files2 WHERE path GLOB '*.meta.*' AND mtime >= ?"


def record_own_errors(
    metastore: MetadataStore, errors_file: str, fingerprint: str | None, meta_identity: str | None = None
) -> None:
    """Record the `meta_ex` just kept beside the meta with this fingerprint (None: forget it).

    SQLite store: goes in the open transaction of the shard, committed with
    the entry.  File store: `meta_identity` is the meta's identity as read
    (taken now when not given).
    """
    if isinstance(metastore, FilesystemMetadataStore):
        record_own_file_pair(metastore, errors_file, fingerprint, meta_identity)
        return
    if not isinstance(metastore, SqliteMetadataStore) or not metastore.dbs:
        return
    db = metastore._db_for(errors_file)
    try:
        db.execute(_PAIRS_SCHEMA)
        if fingerprint is not None:
            db.execute(
                "INSERT OR REPLACE INTO mypy_split_pairs (path, mtime, meta) "
                "SELECT path, mtime, ? FROM files2 WHERE path = ?",
                (fingerprint, errors_file),
            )
        else:
            db.execute("DELETE FROM mypy_split_pairs WHERE path = ?", (errors_file,))
    except sqlite3.OperationalError:
        # Unrecorded, the entry is read as mypy reads it.
        pass
    if db.in_transaction:
        db.commit()


@contextlib.contextmanager
def consistent_cache_reads(metastore: MetadataStore) -> Iterator[None]:
    """Inside this block every SQLite shard is read as of one moment, suspect errors removed.

    The engine reads a module's meta and its `meta_ex` with two queries; a
    commit landing between them would pair one run's meta with another's
    errors.  Both entries of a module live in one shard, so a read
    transaction per shard always sees them from the same commit.  In WAL
    mode, which the store uses, readers never block writers; a shard with
    suspect entries (see the module doc) is written, and keeps its write
    lock until the block ends (a graph load: well under a second).
    """
    if isinstance(metastore, FilesystemMetadataStore):
        remove_suspect_file_pairs(metastore)
    if not isinstance(metastore, SqliteMetadataStore):
        yield
        return
    began = time.time()
    opened = [db for db in metastore.dbs if not db.in_transaction]
    for db in opened:
        open_snapshot_without_suspects(db)
    changes = {id(db): db.total_changes for db in opened}
    try:
        yield
    finally:
        for db in opened:
            if db.in_transaction:
                if db.total_changes != changes[id(db)]:
                    restamp_refreshed_errors(db, began)
                db.commit()


def open_snapshot_without_suspects(db: sqlite3.Connection) -> None:
    """Begin a read transaction on the shard; remove the suspect `meta_ex` entries.

    Most shards have none, and their snapshot is a plain read transaction.
    Removing needs the write lock, so a shard with suspects begins again with
    it (waiting for another writer to commit), and looks again.
    """
    db.execute("BEGIN")
    if not find_suspects(db):
        return
    db.rollback()
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        # Locked past the busy timeout: read as the engine alone would.
        db.execute("BEGIN")
        return
    suspects = [(path,) for path in find_suspects(db)]
    db.executemany("DELETE FROM files2 WHERE path = ?", suspects)
    db.executemany("DELETE FROM mypy_split_pairs WHERE path = ?", suspects)


def find_suspects(db: sqlite3.Connection) -> list[str]:
    if db.execute(_HAS_PAIRS).fetchone() is None:
        return []
    suspects = []
    for path, errors_kept, meta_data, fingerprint in db.execute(_CHANGED_PAIRS).fetchall():
        if not errors_kept or meta_fingerprint(meta_data) != fingerprint:
            suspects.append(path)
    return suspects


def restamp_refreshed_errors(db: sqlite3.Connection, since: float) -> None:
    """Put a fresh time on the `meta_ex` of each meta this process rewrote in the block.

    The engine rewrites a meta whose file was touched but not changed (a new
    mtime, the same hash); its `meta_ex` still belongs to it.
    """
    now = time.time()
    try:
        db.execute(f"UPDATE files2 SET mtime = ? WHERE path IN ({_REFRESHED})", (now, since))
        if db.execute(_HAS_PAIRS).fetchone() is not None:
            db.execute(f"UPDATE mypy_split_pairs SET mtime = ? WHERE path IN ({_REFRESHED})", (now, since))
    except sqlite3.OperationalError:
        # The next run compares those metas' fingerprints instead: slower, not wrong.
        pass


# The file store's records: one SQLite file per cache folder, opened once per
# process (workers record the pairs they write).
PAIRS_FILE = "mypy_split_pairs.db"
_FILE_PAIRS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pairs (path TEXT PRIMARY KEY, errors TEXT, meta TEXT, fingerprint TEXT)"
)
_file_records: dict[str, sqlite3.Connection | None] = {}


def stored_identity(metastore: MetadataStore, name: str) -> str | None:
    """A file of the file store as it is now (None: absent, or not the file store)."""
    if not isinstance(metastore, FilesystemMetadataStore) or not metastore.cache_dir_prefix:
        return None
    return file_identity(os.path.join(metastore.cache_dir_prefix, name))


def file_identity(path: str) -> str | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return f"{stat.st_mtime_ns}:{stat.st_ino}:{stat.st_size}"


def file_records(folder: str) -> sqlite3.Connection | None:
    """This process's connection to the folder's records (None: they cannot be kept here)."""
    if folder not in _file_records:
        try:
            db = sqlite3.connect(
                os.path.join(folder, PAIRS_FILE), timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False
            )
            # As mypy's own store: a record lost in a crash only costs a check.
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_FILE_PAIRS_SCHEMA)
            db.commit()
        except sqlite3.Error:
            db = None
        _file_records[folder] = db
    return _file_records[folder]


def record_own_file_pair(
    metastore: FilesystemMetadataStore, errors_file: str, fingerprint: str | None, meta_identity: str | None
) -> None:
    folder = metastore.cache_dir_prefix
    if not folder:
        return
    db = file_records(folder)
    if db is None:
        return
    if meta_identity is None:
        meta_identity = stored_identity(metastore, meta_name(errors_file))
    errors_identity = stored_identity(metastore, errors_file)
    try:
        if fingerprint is None or errors_identity is None or meta_identity is None:
            db.execute("DELETE FROM pairs WHERE path = ?", (errors_file,))
        else:
            db.execute(
                "INSERT OR REPLACE INTO pairs (path, errors, meta, fingerprint) VALUES (?, ?, ?, ?)",
                (errors_file, errors_identity, meta_identity, fingerprint),
            )
        db.commit()
    except sqlite3.Error:
        # Unrecorded, the pair is read as mypy reads it.
        pass


def meta_name(errors_file: str) -> str:
    """`pkg/mod.meta.ff` for `pkg/mod.meta_ex.ff` (`.json` alike)."""
    head, _, tail = errors_file.rpartition(".meta_ex.")
    return f"{head}.meta.{tail}"


def remove_suspect_file_pairs(metastore: FilesystemMetadataStore) -> None:
    """The file store's check of its recorded pairs before the graph loads (see the module doc)."""
    folder = metastore.cache_dir_prefix
    if not folder or not os.path.exists(os.path.join(folder, PAIRS_FILE)):
        return
    db = file_records(folder)
    if db is None:
        return
    try:
        rows = db.execute("SELECT path, errors, meta, fingerprint FROM pairs").fetchall()
        forgotten, refreshed = judge_file_pairs(metastore, rows)
        db.executemany("DELETE FROM pairs WHERE path = ?", [(path,) for path in forgotten])
        db.executemany("UPDATE pairs SET meta = ? WHERE path = ?", refreshed)
        db.commit()
    except sqlite3.Error:
        # Records that cannot be read are not used; the pairs are read as mypy reads them.
        pass


def judge_file_pairs(
    metastore: FilesystemMetadataStore, rows: list[tuple[str, str, str, str]]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Remove suspect errors files; return the records to forget and the metas refreshed since."""
    forgotten = []
    refreshed = []
    for errors_file, errors_was, meta_was, fingerprint in rows:
        errors_now = stored_identity(metastore, errors_file)
        meta_now = stored_identity(metastore, meta_name(errors_file))
        if errors_now == errors_was and meta_now == meta_was:
            continue
        if errors_now is not None and meta_now is not None and errors_now == errors_was:
            if meta_fingerprint_of_file(metastore, meta_name(errors_file)) == fingerprint:
                refreshed.append((meta_now, errors_file))
                continue
            remove_quietly(metastore, errors_file)
        elif errors_now is not None and meta_now == meta_was:
            remove_quietly(metastore, errors_file)
        # Otherwise gone, or replaced whole: another run's pair, read as mypy reads it.
        forgotten.append(errors_file)
    return forgotten, refreshed


def meta_fingerprint_of_file(metastore: MetadataStore, name: str) -> str | None:
    try:
        return meta_fingerprint(metastore.read(name))
    except OSError:
        return None


def remove_quietly(metastore: MetadataStore, name: str) -> None:
    try:
        metastore.remove(name)
    except OSError:
        pass
