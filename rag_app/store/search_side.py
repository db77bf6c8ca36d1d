"""The search side of the index, in the records' SQLite database.

Per physical collection:

- ``chunks``: every chunk's id, source, content hash, metadata (JSON) and text;
- ``texts``: one row per **distinct text** (content hash) with its BM25 term counts (lower-cased words,
  stop words dropped, Snowball-stemmed; ids in ``vocab``), written with the
  reindex, row by row. A process turns them into a sparse BM25 weight matrix
  once (:meth:`ChunkStore.term_matrix`), never per query.

Vectors are stored once on this side: ``embedding_cache`` maps (embedder variant,
content hash) to a vector, across collections and runs, so no text is embedded
twice (:mod:`rag_app.store.embedding_cache`); a collection's vectors are those of
its distinct texts under the variant its setup records (``setup["vectors"]``). A
file that repeats one paragraph 2,000 times adds one vector, not 2,000; exact
search over these vectors cannot be crowded out by duplicates the way an HNSW graph
is (see :mod:`rag_app.retrieval.search`). Once a large collection's vectors are
published as int8 arrays (:mod:`rag_app.store.arrays`), their cache rows are deleted:
the arrays are the one copy on this side, Chroma the exact one.

Writes happen inside the records' transaction (:meth:`RecordStore.save`), so
the search side and the records always agree; the reindex checks the row count
against Chroma and re-mirrors Chroma when they differ (an index built before
this table existed, or a crash between the Chroma write and the records).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from rag_app.store.bm25 import terms
from rag_app.store.search_reads import COLUMNS, SearchReads

if TYPE_CHECKING:
    import numpy as np

#: Bump when the tables below change: they are mirrors, so an older layout is dropped and rebuilt
#: (from Chroma on the next query or reindex); the embedding cache is kept.
SEARCH_SCHEMA = "5"
_MIRRORS = ("chunks", "vectors", "texts", "vocab", "generations", "setups", "aliases")

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid        INTEGER PRIMARY KEY,
    collection   TEXT NOT NULL,
    chunk_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    text         TEXT NOT NULL,
    UNIQUE (collection, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks (collection, source);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks (collection, content_hash);
CREATE TABLE IF NOT EXISTS texts (
    collection   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    terms        BLOB NOT NULL,
    PRIMARY KEY (collection, content_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vocab (
    id   INTEGER PRIMARY KEY,
    term TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS embedding_cache (
    id           INTEGER PRIMARY KEY,
    model        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector       BLOB NOT NULL,
    UNIQUE (model, content_hash)
);
CREATE TABLE IF NOT EXISTS generations (
    collection TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    stamp      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS setups (
    collection TEXT PRIMARY KEY,
    setup      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    name     TEXT PRIMARY KEY,
    physical TEXT NOT NULL
);
"""

@dataclass(frozen=True)
class ChunkRow:
    """One chunk as the search side stores it; ``vector`` only for a text not stored yet."""

    chunk_id: str
    source: str
    content_hash: str
    text: str
    metadata: Mapping[str, Any]
    vector: Sequence[float] | None = None


def text_hash(text: str) -> str:
    """The chunk content hash (as :func:`loaders.splitter.content_hash`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def blob(vector: Sequence[float]) -> bytes:
    """A vector as the search side stores it: little-endian float32."""
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


def _metadata_json(metadata: Mapping[str, Any]) -> str:
    """A chunk's metadata without the fields its own columns hold (read back by ``rows``)."""
    return json.dumps({k: v for k, v in metadata.items() if k not in COLUMNS}, sort_keys=True)


class ChunkStore(SearchReads):
    """Reads and writes the search side; writes expect the caller's transaction."""

    def __init__(self, db: sqlite3.Connection, readonly: bool = False) -> None:
        """``readonly``: a reader's connection: an older layout is left alone (``current`` is False)."""
        self._db = db
        self.current = True
        if readonly:
            try:
                row = db.execute("SELECT value FROM search_meta WHERE key = 'schema'").fetchone()
            except sqlite3.OperationalError:  # no search side in this database yet
                row = None
            self.current = row is not None and row[0] == SEARCH_SCHEMA
            return
        db.execute("CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM search_meta WHERE key = 'schema'").fetchone()
        if row is None or row[0] != SEARCH_SCHEMA:
            old_cache = db.execute(
                "SELECT sql FROM sqlite_schema WHERE name = 'embedding_cache' AND sql LIKE '%WITHOUT ROWID%'"
            ).fetchone()
            db.executescript(
                "BEGIN IMMEDIATE;"
                + "".join(f"DROP TABLE IF EXISTS {table};" for table in _MIRRORS)
                + ("ALTER TABLE embedding_cache RENAME TO embedding_cache_old;" if old_cache else "")
                + SCHEMA
                + ("INSERT INTO embedding_cache (model, content_hash, vector) SELECT model, content_hash, vector "
                   "FROM embedding_cache_old; DROP TABLE embedding_cache_old;" if old_cache else "")
                + f"INSERT OR REPLACE INTO search_meta (key, value) VALUES ('schema', '{SEARCH_SCHEMA}');"
                + "COMMIT;"
            )

    # --- bookkeeping --------------------------------------------------------------------

    def _bump(self, collection: str) -> None:
        stamp = os.urandom(8).hex()
        self._db.execute(
            """INSERT INTO generations (collection, generation, stamp) VALUES (?, 1, ?)
               ON CONFLICT (collection) DO UPDATE SET generation = generation + 1, stamp = excluded.stamp""",
            (collection, stamp),
        )

    def set_setup(self, collection: str, setup: Mapping[str, Any]) -> None:
        """What built ``collection`` (as recorded in its Chroma metadata)."""
        self._db.execute(
            "INSERT OR REPLACE INTO setups (collection, setup) VALUES (?, ?)", (collection, json.dumps(dict(setup), sort_keys=True))
        )

    def set_alias(self, name: str, physical: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO aliases (name, physical) VALUES (?, ?)", (name, physical))

    # --- writes (inside the caller's transaction) -----------------------------------------------

    def replace_sources(self, collection: str, rows: Iterable[ChunkRow]) -> None:
        """The chunks of each source in ``rows`` become exactly those rows."""
        by_source: dict[str, list[ChunkRow]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row)
        if not by_source:
            return
        before = self._hashes_of(collection, list(by_source))
        self._delete(collection, list(by_source))
        self._insert(collection, [r for source_rows in by_source.values() for r in source_rows])
        self._collect_vectors(collection, before)
        self._bump(collection)

    def _hashes_of(self, collection: str, sources: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(sources), 500):
            part = list(sources[start : start + 500])
            marks = ",".join("?" * len(part))
            found.update(r[0] for r in self._db.execute(
                f"SELECT DISTINCT content_hash FROM chunks WHERE collection = ? AND source IN ({marks})",
                (collection, *part),
            ))
        return found

    def _insert(self, collection: str, rows: Sequence[ChunkRow]) -> None:
        self._db.executemany(
            """INSERT OR REPLACE INTO chunks (collection, chunk_id, source, content_hash, metadata, text)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [
                (collection, r.chunk_id, r.source, r.content_hash, _metadata_json(r.metadata), r.text)
                for r in rows
            ],
        )
        key = self.vector_key(collection)
        self._db.executemany(
            "INSERT OR IGNORE INTO embedding_cache (model, content_hash, vector) VALUES (?, ?, ?)",
            [(key, r.content_hash, blob(r.vector)) for r in rows if r.vector is not None],
        )
        self._add_texts(collection, {r.content_hash: r.text for r in rows})

    def _add_texts(self, collection: str, texts: Mapping[str, str]) -> None:
        """Term counts of each distinct text not stored yet (the BM25 side)."""
        import numpy as np

        hashes = list(texts)
        have: set[str] = set()
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            have.update(r[0] for r in self._db.execute(
                f"SELECT content_hash FROM texts WHERE collection = ? AND content_hash IN ({marks})", (collection, *part)
            ))
        counted: list[tuple[str, dict[str, int]]] = []
        for content_hash in hashes:
            if content_hash not in have:
                counts: dict[str, int] = {}
                for term in terms(texts[content_hash]):
                    counts[term] = counts.get(term, 0) + 1
                counted.append((content_hash, counts))
        ids = self._term_ids(list({t for _, counts in counted for t in counts}), create=True)
        rows = [
            (collection, content_hash, np.array([(ids[t], c) for t, c in counts.items()], dtype="<u4").reshape(-1, 2).tobytes())
            for content_hash, counts in counted
        ]
        self._db.executemany("INSERT OR IGNORE INTO texts (collection, content_hash, terms) VALUES (?, ?, ?)", rows)

    def _term_ids(self, words: Sequence[str], create: bool = False) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(words), 500):
            part = list(words[start : start + 500])
            marks = ",".join("?" * len(part))
            found.update({t: i for i, t in self._db.execute(f"SELECT id, term FROM vocab WHERE term IN ({marks})", part)})
        if create:
            for word in words:
                if word not in found:
                    found[word] = int(self._db.execute("INSERT INTO vocab (term) VALUES (?)", (word,)).lastrowid or 0)
        return found

    def _delete(self, collection: str, sources: Sequence[str]) -> None:
        self._db.executemany(
            "DELETE FROM chunks WHERE collection = ? AND source = ?", [(collection, source) for source in sources]
        )

    def _collect_vectors(self, collection: str, hashes: Iterable[str]) -> None:
        """Forget the term counts of those ``hashes`` no chunk uses any more (their vectors stay cached)."""
        wanted = list(hashes)
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            self._db.execute(
                f"""DELETE FROM texts WHERE collection = ? AND content_hash IN ({marks}) AND NOT EXISTS
                    (SELECT 1 FROM chunks c INDEXED BY chunks_by_hash
                     WHERE c.collection = texts.collection AND c.content_hash = texts.content_hash)""",
                (collection, *part),
            )

    def delete_sources(self, collection: str, sources: Sequence[str]) -> None:
        if not sources:
            return
        before = self._hashes_of(collection, sources)
        self._delete(collection, sources)
        self._collect_vectors(collection, before)
        self._bump(collection)

    def drop(self, collection: str) -> None:
        for table in ("chunks", "texts", "generations", "setups"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))

    def clear(self, collection: str) -> None:
        """Before a re-mirror: no rows for ``collection`` (its setup and generation stay)."""
        for table in ("chunks", "texts"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))
        self._bump(collection)

    def add_rows(self, collection: str, rows: Sequence[ChunkRow]) -> None:
        """Add ``rows`` (a page of a re-mirror) as they are."""
        self._insert(collection, rows)

    def uncached_hashes(self, collection: str) -> list[str]:
        """Content hashes of ``collection``'s texts with no vector in the embedding cache."""
        return [r[0] for r in self._db.execute(
            """SELECT t.content_hash FROM texts t WHERE t.collection = ? AND NOT EXISTS
               (SELECT 1 FROM embedding_cache e WHERE e.model = ? AND e.content_hash = t.content_hash)""",
            (collection, self.vector_key(collection)),
        )]

    def uncache_texts(self, collection: str) -> None:
        """Delete the cached vectors of ``collection``'s texts (its published arrays hold them) that no
        other collection uses, then give the freed pages back to the file system."""
        key = self.vector_key(collection)
        others = [c for c in self.collections_with_key(key) if c != collection]
        marks = ",".join("?" * len(others))
        shared = (f"""AND NOT EXISTS (SELECT 1 FROM texts o WHERE o.collection IN ({marks})
                      AND o.content_hash = embedding_cache.content_hash)""" if others else "")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                f"""DELETE FROM embedding_cache WHERE model = ? AND EXISTS (SELECT 1 FROM texts t
                    WHERE t.collection = ? AND t.content_hash = embedding_cache.content_hash) {shared}""",
                (key, collection, *others),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._db.executescript("PRAGMA incremental_vacuum;")  # stepped to the end: every free page

    def put_cached(self, key: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Add ``vectors`` to the cache under ``key`` (the caller's transaction, or autocommit)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO embedding_cache (model, content_hash, vector) VALUES (?, ?, ?)",
            [(key, h, blob(v)) for h, v in vectors.items()],
        )

    def put_vectors(self, collection: str, vectors: Mapping[str, Sequence[float]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO embedding_cache (model, content_hash, vector) VALUES (?, ?, ?)",
            [(self.vector_key(collection), h, blob(v)) for h, v in vectors.items()],
        )
        self._bump(collection)  # readers cached the matrix without these
