"""A module's errors (`meta_ex`) are left only beside a meta written for the same inputs.

mypy-split writes a module's meta when its interface is checked and its
`meta_ex` when its bodies are, seconds later.  A plain `mypy` sharing the cache
folder does not take our lock (cachelock.py): it may commit its own pair for
the module in between, say with `--strict` where this run has the defaults.
Our `meta_ex` written over theirs would then pair their meta (fresh for their
flags) with our errors, and their next run would print ours.

So every `meta_ex` this process writes is checked right after the write,
before it is committed: the meta now stored must describe the inputs this
process checked the module with (source hash, options, interface, the
interfaces of its dependencies).  Otherwise the `meta_ex` is removed, which
leaves the module stale: the next run checks it again, nothing worse.

Why after the write and not before: in the SQLite store the write takes the
shard's write lock, so nothing can be committed between the check and our
commit; in the file store a sequential writer replaces the meta before its
`meta_ex`, so a meta read after our write either is ours, or belongs to a
writer whose `meta_ex` lands after ours or was already removed by us.

The reading side (SQLite store): mypy itself commits a module's meta when
its interface is checked and its `meta_ex` only after the bodies, sequential
runs too, without looking at what the store holds meanwhile.  Two pairs
caught that way are removed when a run opens its snapshot
(`consistent_cache_reads`), so the module is checked again:

- a `meta_ex` older than its meta: the meta is new, its errors are not
  written yet, the ones there are the previous run's.  Every writer writes a
  `meta_ex` after its meta.  The one honest pair that looks like this is a
  meta whose stat a run refreshed (a touched file, same hash): this process
  puts a fresh time on the `meta_ex` of every meta it refreshes during the
  load; a meta refreshed by a plain `mypy` costs one recheck of that module;
- a `meta_ex` another process wrote after ours while the meta is not newer
  than ours: a `mypy` run that committed its meta before ours and its errors
  after.  This process records the time of every `meta_ex` it writes in a
  table of its own beside mypy's (`mypy_split_errors`, ignored by mypy).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

import mypy.build
from librt.internal import ReadBuffer, cache_version
from mypy.build import PRI_INDIRECT, BuildManager, Graph, State
from mypy.cache import CACHE_VERSION, CacheMeta
from mypy.metastore import MetadataStore, SqliteMetadataStore
from mypy.util import json_loads


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
    kept = stored_meta_matches(state, source_hash or state.source_hash, meta_file, graph, manager)
    if not kept:
        manager.log(f"Another process rewrote the meta of {module_id}: its errors are not cached")
        try:
            manager.metastore.remove(errors_file)
        except OSError:
            pass
    record_own_errors(manager.metastore, errors_file, kept)
    manager.commit_module(meta_file)
    return kept


def stored_meta_matches(
    state: State, source_hash: str | None, meta_file: str, graph: Graph, manager: BuildManager
) -> bool:
    """Whether the stored meta was written for the version of the module this run checked.

    Its output fields (stat, data mtime) may differ: another run with the
    same inputs stores the same interface and errors.
    """
    stored = read_meta(meta_file, state, manager)
    if stored is None or source_hash is None:
        return False
    return (
        stored.hash == source_hash
        and stored.interface_hash == state.interface_hash
        and stored.options == expected_options(state, manager)
        and stored.dep_hashes == [graph[dep].interface_hash if dep in graph else b"" for dep in stored.dependencies]
        and stored.dependencies == direct_dependencies(state)
    )


def read_meta(meta_file: str, state: State, manager: BuildManager) -> CacheMeta | None:
    """The module's meta as stored now, decoded as the engine decodes it; None if unreadable."""
    assert state.path is not None
    _, data_file, _ = mypy.build.get_cache_names(state.id, state.path, manager.options)
    try:
        raw = manager.metastore.read(meta_file)
    except OSError:
        return None
    try:
        if manager.options.fixed_format_cache:
            if raw[:2] != bytes([cache_version(), CACHE_VERSION]):
                return None
            return CacheMeta.read(ReadBuffer(raw[2:]), data_file)
        return CacheMeta.deserialize(json_loads(raw), data_file)
    except Exception:
        # Whatever another process left there, it is not the meta we wrote.
        return None


def expected_options(state: State, manager: BuildManager) -> dict[str, object]:
    """The options record the engine stores in a meta it writes for this module now."""
    return mypy.build.options_snapshot(state.id, manager) | {
        "local_partial_types": state.options.local_partial_types,
        "is_parallel": state.options.num_workers > 0,
    }


def direct_dependencies(state: State) -> list[str]:
    """The dependencies a meta lists: all but the indirect ones, which go to `meta_ex`."""
    return [dep for dep in state.dependencies if state.priorities.get(dep) != PRI_INDIRECT]


# This process's record of the `meta_ex` entries it wrote, and their times,
# in each shard of the SQLite store (mypy reads only `files2`).
_OWN_ERRORS_SCHEMA = "CREATE TABLE IF NOT EXISTS mypy_split_errors (path TEXT PRIMARY KEY, mtime REAL)"
_HAS_OWN_ERRORS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mypy_split_errors'"

# The suspect `meta_ex` entries: older than the meta of their module, or,
# with our records, replaced since we wrote them while the meta is not newer
# than ours (another process's late errors beside our meta).  Entry names
# differ only there: `pkg/mod.meta.ff` and `pkg/mod.meta_ex.ff` (`.json` alike).
_SUSPECTS = """
SELECT errors.path FROM files2 AS errors JOIN files2 AS meta
    ON meta.path = replace(errors.path, '.meta_ex.', '.meta.')
WHERE errors.path GLOB '*.meta_ex.*' AND errors.mtime < meta.mtime
"""
_SUSPECTS_WITH_RECORDS = """
SELECT errors.path FROM files2 AS errors JOIN files2 AS meta
    ON meta.path = replace(errors.path, '.meta_ex.', '.meta.')
LEFT JOIN mypy_split_errors AS own ON own.path = errors.path
WHERE errors.path GLOB '*.meta_ex.*' AND (
    errors.mtime < meta.mtime
    OR (own.mtime IS NOT NULL AND errors.mtime != own.mtime AND meta.mtime <= own.mtime)
)
"""
# The `meta_ex` entries of the metas written since a moment.
_REFRESHED = "SELECT replace(path, '.meta.', '.meta_ex.') FROM files2 WHERE path GLOB '*.meta.*' AND mtime >= ?"


def record_own_errors(metastore: MetadataStore, errors_file: str, written: bool) -> None:
    """Record (or, if not `written`, forget) the time of the `meta_ex` this process just wrote.

    Goes in the open transaction of the shard, committed with the entry.
    """
    if not isinstance(metastore, SqliteMetadataStore) or not metastore.dbs:
        return
    db = metastore._db_for(errors_file)
    try:
        db.execute(_OWN_ERRORS_SCHEMA)
        if written:
            db.execute(
                "INSERT OR REPLACE INTO mypy_split_errors (path, mtime) SELECT path, mtime FROM files2 WHERE path = ?",
                (errors_file,),
            )
        else:
            db.execute("DELETE FROM mypy_split_errors WHERE path = ?", (errors_file,))
    except sqlite3.OperationalError:
        # Unrecorded, an entry is only checked against its meta's time.
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
    suspects = find_suspects(db)
    db.executemany("DELETE FROM files2 WHERE path = ?", suspects)
    if has_records(db):
        db.executemany("DELETE FROM mypy_split_errors WHERE path = ?", suspects)


def find_suspects(db: sqlite3.Connection) -> list[tuple[str]]:
    query = _SUSPECTS_WITH_RECORDS if has_records(db) else _SUSPECTS
    return db.execute(query).fetchall()


def has_records(db: sqlite3.Connection) -> bool:
    return db.execute(_HAS_OWN_ERRORS).fetchone() is not None


def restamp_refreshed_errors(db: sqlite3.Connection, since: float) -> None:
    """Put a fresh time on the `meta_ex` of each meta this process rewrote in the block.

    The engine rewrites a meta whose file was touched but not changed (a new
    mtime, the same hash); its `meta_ex` still belongs to it.
    """
    now = time.time()
    try:
        db.execute(f"UPDATE files2 SET mtime = ? WHERE path IN ({_REFRESHED})", (now, since))
        if has_records(db):
            db.execute(f"UPDATE mypy_split_errors SET mtime = ? WHERE path IN ({_REFRESHED})", (now, since))
    except sqlite3.OperationalError:
        # The next run checks those modules again: slower, not wrong.
        pass
