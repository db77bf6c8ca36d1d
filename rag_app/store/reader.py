"""Read-only access to the search side for queries: one connection per thread, one snapshot per search.

Queries never write: the reindex (the one writer) keeps the search side in step with
Chroma. Each thread reads through a read-only connection of its own, and one search
reads inside one SQLite read transaction, so it sees the index as one writer commit
left it (WAL keeps that snapshot readable while the writer commits the next one,
even when a rebuild switches collections and drops the old one).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from rag_app.store.search_side import ChunkStore


class SideReader:
    """``with reader.snapshot() as store:``: the search side as one commit left it (None: no database)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection | None:
        db = getattr(self._local, "db", None)
        if db is None:
            if not self.path.exists():
                return None
            uri = f"file:{quote(str(self.path))}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    @contextmanager
    def snapshot(self) -> Iterator[ChunkStore | None]:
        db = self._connection()
        if db is None:
            yield None
            return
        db.execute("BEGIN")  # deferred: the first read fixes the snapshot until COMMIT
        try:
            yield ChunkStore(db, readonly=True)
        finally:
            db.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection (call when no search runs any more)."""
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
