"""Unit tests for meta_pairing.py: which `meta_ex` entries a run reads, keeps and writes.

Two SQLite stores open on one folder stand for this process and another one
(a plain `mypy`); entry names and contents are made up, as only their
pairing and times matter here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy.metastore import SqliteMetadataStore

from mypy_split.meta_pairing import consistent_cache_reads, record_own_errors

META = "app/util.meta.ff"
ERRORS = "app/util.meta_ex.ff"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteMetadataStore, SqliteMetadataStore]]:
    ours = SqliteMetadataStore(str(tmp_path), set_journal_mode=True, num_shards=4)
    theirs = SqliteMetadataStore(str(tmp_path), set_journal_mode=True, num_shards=4)
    yield ours, theirs
    ours.close()
    theirs.close()


def write(store: SqliteMetadataStore, name: str, data: bytes, mtime: float) -> None:
    assert store.write(name, data, mtime)
    store.commit()


def strict_meta_beside_default_errors(theirs: SqliteMetadataStore) -> None:
    """A default pair, then the strict meta of a run whose errors are not written yet."""
    write(theirs, META, b"meta default", 100.0)
    write(theirs, ERRORS, b"errors default", 101.0)
    write(theirs, META, b"meta strict", 102.0)


def our_recorded_pair(ours: SqliteMetadataStore) -> None:
    assert ours.write(META, b"our meta", 100.0)
    assert ours.write(ERRORS, b"our errors", 101.0)
    record_own_errors(ours, ERRORS, written=True)
    ours.commit()


def test_a_module_meta_and_errors_are_read_from_one_commit(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """A commit by another process between the engine's two reads of a module is not seen."""
    ours, theirs = stores

    def commit(version: bytes) -> None:
        now = time.time()
        theirs.write(META, b"meta " + version, now)
        theirs.write(ERRORS, b"errors " + version, now + 0.001)
        theirs.commit()

    commit(b"default")
    with consistent_cache_reads(ours):
        assert ours.read(META) == b"meta default"
        commit(b"strict")
        assert ours.read(ERRORS) == b"errors default"
    assert not any(db.in_transaction for db in ours.dbs)
    # Outside the block each read sees the latest commit, as the engine alone would.
    assert ours.read(META) == b"meta strict"
    commit(b"default")
    assert ours.read(ERRORS) == b"errors default"


def test_errors_older_than_their_meta_are_not_read_and_are_removed(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """Another run committed a new meta and has not written its errors yet: the old ones are not its."""
    ours, theirs = stores
    strict_meta_beside_default_errors(theirs)
    with consistent_cache_reads(ours):
        assert ours.read(META) == b"meta strict"
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)
    with pytest.raises(FileNotFoundError):
        theirs.read(ERRORS)


def test_a_pair_written_in_order_is_kept(stores: tuple[SqliteMetadataStore, SqliteMetadataStore]) -> None:
    ours, theirs = stores
    write(theirs, META, b"meta", 100.0)
    write(theirs, ERRORS, b"errors", 100.0)
    write(theirs, "app/other.meta.ff", b"meta", 100.0)
    write(theirs, "app/other.meta_ex.ff", b"errors", 101.0)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"errors"
        assert ours.read("app/other.meta_ex.ff") == b"errors"
    assert theirs.read(ERRORS) == b"errors"


def test_a_meta_refreshed_during_the_load_keeps_its_errors_for_the_next_run(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """The engine rewrites the meta of a touched, unchanged file: its errors stay valid."""
    ours, theirs = stores
    write(theirs, META, b"meta", 100.0)
    write(theirs, ERRORS, b"errors", 101.0)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"errors"
        assert ours.write(META, b"meta, new stat")
    assert not any(db.in_transaction for db in ours.dbs)
    assert theirs.getmtime(ERRORS) >= theirs.getmtime(META)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"errors"


def test_a_shard_with_suspects_is_read_once_its_writer_commits(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """Another process holds the shard's write lock: the run waits for it, then looks again."""
    ours, theirs = stores
    strict_meta_beside_default_errors(theirs)
    for db in ours.dbs:
        db.execute("PRAGMA busy_timeout = 5000")
    # Their errors arrive while the lock is held: nothing is suspect any more.
    assert theirs.write(ERRORS, b"errors strict", 103.0)
    import threading

    timer = threading.Timer(0.3, theirs.commit)
    timer.start()
    try:
        with consistent_cache_reads(ours):
            assert ours.read(ERRORS) == b"errors strict"
    finally:
        timer.join()


def test_errors_written_by_another_process_beside_our_meta_are_removed(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """A plain `mypy` that committed its meta before ours writes its errors after ours."""
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, ERRORS, b"their errors", 102.0)
    with consistent_cache_reads(ours):
        assert ours.read(META) == b"our meta"
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)


def test_a_pair_another_process_wrote_after_ours_is_kept(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, META, b"their meta", 102.0)
    write(theirs, ERRORS, b"their errors", 103.0)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"their errors"
