"""What was indexed from each file, and the search side of the index: SQLite beside Chroma.

Chroma holds the chunks; the ``files`` table remembers, per source file, the size and
mtime seen, the file's hash and the ids of its chunks. It lets a reindex skip
unchanged files without reading them. A row is marked ``dirty`` *before* any
chunk of that file is written and made clean only after the write finished,
so after a crash the next run knows which files to reconcile against Chroma.

The same database holds what queries read (see :mod:`rag_app.store.search_side`): each
chunk's id, content hash, metadata and text, one vector and the BM25 term counts
per distinct text, and the embedding cache. They are
written in the same transaction that records a file clean, so they can never
disagree with the records.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

if TYPE_CHECKING:
    from rag_app.store.search_side import ChunkRow, ChunkStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    collection TEXT NOT NULL,
    source     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    file_hash  TEXT NOT NULL,
    chunk_ids  TEXT NOT NULL,
    dirty      INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL,
    PRIMARY KEY (collection, source)
);
"""


@dataclass(frozen=True)
class FileRecord:
    source: str
    size: int
    mtime_ns: int
    file_hash: str
    chunk_ids: tuple[str, ...]
    dirty: bool


class RecordStore:
    """Per-file bookkeeping for one or more collections."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._chunks: "ChunkStore | None" = None

    @property
    def _db(self) -> sqlite3.Connection:
        """The writer's connection, opened on first use (queries read through their own, read-only)."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # a new file: vectors moved to the arrays free their pages
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA journal_size_limit=67108864")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._conn = db
        return self._conn

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's SQLite connection (records and search side share it), for inspection and repair."""
        return self._db

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._chunks = None

    def all(self, collection: str) -> dict[str, FileRecord]:
        rows = self._db.execute(
            "SELECT source, size, mtime_ns, file_hash, chunk_ids, dirty FROM files WHERE collection = ?",
            (collection,),
        )
        return {
            r[0]: FileRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), bool(r[5]))
            for r in rows
        }

    def lookup(self, collection: str) -> "Mapping[str, FileRecord]":
        """The records of ``collection`` read one source at a time (the whole set is never held)."""
        return _Lookup(self, collection)

    def get(self, collection: str, source: str) -> FileRecord | None:
        r = self._db.execute(
            "SELECT source, size, mtime_ns, file_hash, chunk_ids, dirty FROM files WHERE collection = ? AND source = ?",
            (collection, source),
        ).fetchone()
        return FileRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), bool(r[5])) if r else None

    def sources(self, collection: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT source FROM files WHERE collection = ?", (collection,))]

    def mark_dirty(self, collection: str, sources: list[str]) -> None:
        """Before writing chunks of ``sources``: remember they may be half-written."""
        now = time.time()
        with self.transaction():
            for source in sources:
                self._db.execute(
                    """INSERT INTO files (collection, source, size, mtime_ns, file_hash, chunk_ids, dirty, indexed_at)
                       VALUES (?, ?, -1, -1, '', '[]', 1, ?)
                       ON CONFLICT (collection, source) DO UPDATE SET dirty = 1""",
                    (collection, source, now),
                )

    def save(self, collection: str, records: list[FileRecord], chunks: "list[ChunkRow] | None" = None) -> None:
        """After the chunks of ``records`` are written and stale ones deleted.

        ``chunks``: every chunk of the files whose content changed (their rows on the
        search side are replaced in the same transaction).
        """
        now = time.time()
        with self.transaction():
            if chunks is not None:
                self.chunks.replace_sources(collection, chunks)
            self._db.executemany(
                """INSERT OR REPLACE INTO files
                   (collection, source, size, mtime_ns, file_hash, chunk_ids, dirty, indexed_at)
                   VALUES (?, ?, ?, ?, ?, ?, 0, ?)""",
                [
                    (collection, r.source, r.size, r.mtime_ns, r.file_hash, json.dumps(list(r.chunk_ids)), now)
                    for r in records
                ],
            )

    def forget(self, collection: str, sources: list[str]) -> None:
        with self.transaction():
            self._db.executemany(
                "DELETE FROM files WHERE collection = ? AND source = ?",
                [(collection, s) for s in sources],
            )
            self.chunks.delete_sources(collection, sources)

    def drop_collection(self, collection: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM files WHERE collection = ?", (collection,))
            self.chunks.drop(collection)

    @property
    def chunks(self) -> "ChunkStore":
        """The chunk side (texts, metadata, vectors, embedding cache) in this database."""
        if self._chunks is None:
            from rag_app.store.search_side import ChunkStore

            self._chunks = ChunkStore(self._db)
        return self._chunks

    def transaction(self) -> "_Tx":
        """One SQLite write transaction (BEGIN IMMEDIATE): commit on success, roll back on error."""
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


class _Lookup(Mapping[str, FileRecord]):
    def __init__(self, store: RecordStore, collection: str) -> None:
        self._store, self._collection = store, collection

    def __getitem__(self, source: str) -> FileRecord:
        record = self._store.get(self._collection, source)
        if record is None:
            raise KeyError(source)
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.sources(self._collection))

    def __len__(self) -> int:
        return len(self._store.sources(self._collection))
