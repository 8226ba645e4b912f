"""Unit tests for meta_pairing.py: which `meta_ex` entries a run reads, keeps and records.

Two stores open on one folder (SQLite, then files) stand for this process
and another one (a plain `mypy`).  Metas are real ones (their fingerprints are compared);
`meta_ex` contents are made up, as only their pairing and times matter here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from librt.internal import cache_version
from mypy.cache import CACHE_VERSION, CacheMeta, WriteBuffer
from mypy.metastore import FilesystemMetadataStore, SqliteMetadataStore

from mypy_split import meta_pairing
from mypy_split.meta_pairing import PAIRS_FILE, consistent_cache_reads, meta_fingerprint, meta_name, record_own_errors

META = "app/util.meta.ff"
ERRORS = "app/util.meta_ex.ff"

Stores = tuple[SqliteMetadataStore, SqliteMetadataStore]


def meta_bytes(config: str, source_mtime: int = 1) -> bytes:
    """A meta as mypy writes it, for one configuration and one stat of the source."""
    meta = CacheMeta(
        id="app.util", path="app/util.py", mtime=source_mtime, size=10, hash="abc", dependencies=[],
        data_mtime=5, data_file="", suppressed=[], imports_ignored={}, options={"other_options": config},
        suppressed_deps_opts=b"", dep_prios=[], dep_lines=[], dep_hashes=[], interface_hash=b"i",
        trans_dep_hash=b"t", version_id="2.4.1", ignore_all=False, plugin_data=None,
    )
    buffer = WriteBuffer()
    meta.write(buffer)
    return bytes([cache_version(), CACHE_VERSION]) + buffer.getvalue()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    ours = SqliteMetadataStore(str(tmp_path), set_journal_mode=True, num_shards=4)
    theirs = SqliteMetadataStore(str(tmp_path), set_journal_mode=True, num_shards=4)
    yield ours, theirs
    ours.close()
    theirs.close()


def write(store: SqliteMetadataStore, name: str, data: bytes, mtime: float) -> None:
    assert store.write(name, data, mtime)
    store.commit()


def our_recorded_pair(ours: SqliteMetadataStore) -> None:
    """A default pair that this process wrote and recorded."""
    meta = meta_bytes("default")
    assert ours.write(META, meta, 100.0)
    assert ours.write(ERRORS, b"default errors", 101.0)
    record_own_errors(ours, ERRORS, meta_fingerprint(meta))
    ours.commit()


def test_a_module_meta_and_errors_are_read_from_one_commit(stores: Stores) -> None:
    """A commit by another process between the engine's two reads of a module is not seen."""
    ours, theirs = stores

    def commit(config: str, mtime: float) -> None:
        theirs.write(META, meta_bytes(config), mtime)
        theirs.write(ERRORS, f"{config} errors".encode(), mtime + 1)
        theirs.commit()

    commit("default", 100.0)
    with consistent_cache_reads(ours):
        assert ours.read(META) == meta_bytes("default")
        commit("strict", 200.0)
        assert ours.read(ERRORS) == b"default errors"
    assert not any(db.in_transaction for db in ours.dbs)
    # Outside the block each read sees the latest commit, as the engine alone would.
    assert ours.read(META) == meta_bytes("strict")
    commit("default", 300.0)
    assert ours.read(ERRORS) == b"default errors"


def test_our_errors_beside_a_meta_committed_since_are_removed(stores: Stores) -> None:
    """Another run committed its meta and has not written its errors yet: ours are not its."""
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, META, meta_bytes("strict"), 102.0)
    with consistent_cache_reads(ours):
        assert ours.read(META) == meta_bytes("strict")
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)
    with pytest.raises(FileNotFoundError):
        theirs.read(ERRORS)


def test_errors_written_by_another_process_beside_our_meta_are_removed(stores: Stores) -> None:
    """A plain `mypy` that committed its meta before ours writes its errors after ours."""
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, ERRORS, b"strict errors", 102.0)
    with consistent_cache_reads(ours):
        assert ours.read(META) == meta_bytes("default")
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)


def test_a_meta_another_process_refreshed_keeps_our_errors(stores: Stores) -> None:
    """A touched, unchanged file: mypy rewrites the meta with the new stat only."""
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, META, meta_bytes("default", source_mtime=2), 102.0)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"default errors"


def test_pairs_written_in_order_or_without_our_record_are_read_as_mypy_reads_them(stores: Stores) -> None:
    ours, theirs = stores
    our_recorded_pair(ours)
    # Another run's whole pair after ours.
    write(theirs, META, meta_bytes("strict"), 102.0)
    write(theirs, ERRORS, b"strict errors", 103.0)
    # A pair of theirs alone, its meta newer than its errors (refreshed, or not yet written: no telling).
    write(theirs, "app/other.meta.ff", meta_bytes("strict"), 100.0)
    write(theirs, "app/other.meta_ex.ff", b"errors", 99.0)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"strict errors"
        assert ours.read("app/other.meta_ex.ff") == b"errors"


def test_a_meta_refreshed_during_the_load_keeps_its_errors_for_the_next_run(stores: Stores) -> None:
    """The engine rewrites the meta of a touched, unchanged file: its errors stay valid."""
    ours, theirs = stores
    our_recorded_pair(ours)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"default errors"
        assert ours.write(META, meta_bytes("default", source_mtime=2))
    assert not any(db.in_transaction for db in ours.dbs)
    assert theirs.getmtime(ERRORS) >= theirs.getmtime(META)
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"default errors"


def test_a_shard_with_suspects_is_read_once_its_writer_commits(stores: Stores) -> None:
    """Another process holds the shard's write lock: the run waits for it, then looks again."""
    ours, theirs = stores
    our_recorded_pair(ours)
    write(theirs, META, meta_bytes("strict"), 102.0)
    for db in ours.dbs:
        db.execute("PRAGMA busy_timeout = 5000")
    # Their errors arrive while the lock is held: nothing is suspect any more.
    assert theirs.write(ERRORS, b"strict errors", 103.0)
    timer = threading.Timer(0.3, theirs.commit)
    timer.start()
    try:
        with consistent_cache_reads(ours):
            assert ours.read(ERRORS) == b"strict errors"
    finally:
        timer.join()


def test_a_fingerprint_ignores_the_stat_and_nothing_else() -> None:
    assert meta_fingerprint(meta_bytes("default", source_mtime=1)) == meta_fingerprint(meta_bytes("default", 2))
    assert meta_fingerprint(meta_bytes("default")) != meta_fingerprint(meta_bytes("strict"))
    assert meta_fingerprint(b"not a meta") is None


# The file store: the same cases, with records in the folder's own SQLite file.

FileStores = tuple[FilesystemMetadataStore, FilesystemMetadataStore]


@pytest.fixture
def file_stores(tmp_path: Path) -> FileStores:
    return FilesystemMetadataStore(str(tmp_path)), FilesystemMetadataStore(str(tmp_path))


def replace_file(store: FilesystemMetadataStore, name: str, data: bytes) -> None:
    """Another process's write: a new file, whatever the clock's resolution."""
    assert store.write(name, data)


def our_recorded_file_pair(ours: FilesystemMetadataStore) -> None:
    meta = meta_bytes("default")
    assert ours.write(META, meta)
    assert ours.write(ERRORS, b"default errors")
    record_own_errors(ours, ERRORS, meta_fingerprint(meta))


def recorded_paths(folder: Path) -> list[str]:
    with sqlite3.connect(folder / PAIRS_FILE) as db:
        return [path for (path,) in db.execute("SELECT path FROM pairs")]


def test_file_store_our_errors_beside_a_meta_written_since_are_removed(file_stores: FileStores, tmp_path: Path) -> None:
    ours, theirs = file_stores
    our_recorded_file_pair(ours)
    replace_file(theirs, META, meta_bytes("strict"))
    with consistent_cache_reads(ours):
        assert ours.read(META) == meta_bytes("strict")
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)
    assert recorded_paths(tmp_path) == []


def test_file_store_errors_written_by_another_process_beside_our_meta_are_removed(file_stores: FileStores) -> None:
    ours, theirs = file_stores
    our_recorded_file_pair(ours)
    replace_file(theirs, ERRORS, b"strict errors")
    with consistent_cache_reads(ours):
        assert ours.read(META) == meta_bytes("default")
        with pytest.raises(FileNotFoundError):
            ours.read(ERRORS)


def test_file_store_a_refreshed_meta_keeps_our_errors_and_is_judged_once(
    file_stores: FileStores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = file_stores
    our_recorded_file_pair(ours)
    replace_file(theirs, META, meta_bytes("default", source_mtime=2))
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"default errors"
    # The record now names the refreshed meta: the next load decodes nothing.
    monkeypatch.setattr(meta_pairing, "meta_fingerprint", lambda raw: pytest.fail("decoded again"))
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"default errors"
    assert recorded_paths(tmp_path) == [ERRORS]


def test_file_store_pairs_replaced_whole_or_unrecorded_are_read_as_written(
    file_stores: FileStores, tmp_path: Path
) -> None:
    ours, theirs = file_stores
    our_recorded_file_pair(ours)
    replace_file(theirs, META, meta_bytes("strict"))
    replace_file(theirs, ERRORS, b"strict errors")
    replace_file(theirs, "app/other.meta.ff", meta_bytes("strict"))
    replace_file(theirs, "app/other.meta_ex.ff", b"errors")
    with consistent_cache_reads(ours):
        assert ours.read(ERRORS) == b"strict errors"
        assert ours.read("app/other.meta_ex.ff") == b"errors"
    assert recorded_paths(tmp_path) == []


def test_file_store_a_pair_not_kept_is_not_recorded(file_stores: FileStores, tmp_path: Path) -> None:
    ours, _ = file_stores
    our_recorded_file_pair(ours)
    record_own_errors(ours, ERRORS, None)
    assert recorded_paths(tmp_path) == []
    assert meta_name("pkg/mod.meta_ex.json") == "pkg/mod.meta.json"


def test_existing_entries_are_found_in_every_shard_and_store(tmp_path: Path) -> None:
    """The lookup `invalidate_error_caches` makes, one query per shard (chunked), as the store's own lookups."""
    from mypy_split.phases import existing_entries

    sqlite_store = SqliteMetadataStore(str(tmp_path / "sqlite"), set_journal_mode=True, num_shards=4)
    file_store = FilesystemMetadataStore(str(tmp_path / "files"))
    names = [f"pkg/m{index}.meta_ex.ff" for index in range(1200)]
    present = set(names[::3])
    for store in (sqlite_store, file_store):
        for name in sorted(present):
            assert store.write(name, b"errors", 1.0)
        store.commit()
        assert existing_entries(store, [*names, "absent/x.meta_ex.ff"]) == present
        assert existing_entries(store, []) == set()
    assert len({sqlite_store._shard_index(name) for name in present}) == 4
    sqlite_store.close()
