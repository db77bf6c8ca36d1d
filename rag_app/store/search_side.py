"""The search side of the index, in the records' SQLite database.

Per physical collection:

- ``chunks``: every chunk's id, source, content hash, metadata (JSON) and text;
- ``vectors``: **one vector per distinct text** (keyed by content hash). A file
  that repeats one paragraph 2,000 times adds one vector, not 2,000; exact
  search over these vectors cannot be crowded out by duplicates the way an
  HNSW graph is (see :mod:`rag_app.retrieval.search`);
- ``texts``: the BM25 term counts of each distinct text (lower-cased words,
  stop words dropped, Snowball-stemmed; ids in ``vocab``), written with the
  reindex, row by row. A process turns them into a sparse BM25 weight matrix
  once (:meth:`ChunkStore.term_matrix`), never per query.

Across collections and runs, ``embedding_cache`` maps (embedder variant,
content hash) to a vector, so no text is embedded twice (:mod:`rag_app.store.embedding_cache`).

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

from rag_app.store.bm25 import bm25_weights, terms

if TYPE_CHECKING:
    import numpy as np

#: Bump when the tables below change: they are mirrors, so an older layout is dropped and rebuilt
#: (from Chroma on the next query or reindex); the embedding cache is kept.
SEARCH_SCHEMA = "3"
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
CREATE TABLE IF NOT EXISTS vectors (
    collection   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (collection, content_hash)
) WITHOUT ROWID;
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
    model        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (model, content_hash)
) WITHOUT ROWID;
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


class ChunkStore:
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
            db.executescript(
                "BEGIN IMMEDIATE;"
                + "".join(f"DROP TABLE IF EXISTS {table};" for table in _MIRRORS)
                + SCHEMA
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

    def generation(self, collection: str) -> int:
        """Changes whenever the collection's chunks change (cheap to ask per query)."""
        row = self._db.execute("SELECT generation FROM generations WHERE collection = ?", (collection,)).fetchone()
        return int(row[0]) if row else 0

    def stamp(self, collection: str) -> str:
        """A random token that changes with every generation (published beside a server's collection)."""
        row = self._db.execute("SELECT stamp FROM generations WHERE collection = ?", (collection,)).fetchone()
        return str(row[0]) if row else ""

    def knows(self, collection: str) -> bool:
        """Whether this search side holds ``collection`` (its setup and at least one write)."""
        return self.current and self.setup(collection) is not None and self.generation(collection) > 0

    def set_setup(self, collection: str, setup: Mapping[str, Any]) -> None:
        """What built ``collection`` (as recorded in its Chroma metadata)."""
        self._db.execute(
            "INSERT OR REPLACE INTO setups (collection, setup) VALUES (?, ?)", (collection, json.dumps(dict(setup), sort_keys=True))
        )

    def setup(self, collection: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT setup FROM setups WHERE collection = ?", (collection,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_alias(self, name: str, physical: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO aliases (name, physical) VALUES (?, ?)", (name, physical))

    def alias(self, name: str) -> str | None:
        """The physical collection serving index ``name``, if this database knows it."""
        row = self._db.execute("SELECT physical FROM aliases WHERE name = ?", (name,)).fetchone()
        if row:
            return str(row[0])
        return name if self.setup(name) is not None else None

    def count(self, collection: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks WHERE collection = ?", (collection,)).fetchone()[0])

    # --- writes (inside the caller's transaction) -----------------------------------------------

    def replace_sources(self, collection: str, rows: Iterable[ChunkRow]) -> None:
        """The chunks of each source in ``rows`` become exactly those rows."""
        by_source: dict[str, list[ChunkRow]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row)
        if not by_source:
            return
        self._delete(collection, list(by_source))
        for source_rows in by_source.values():
            self._insert(collection, source_rows)
        self._collect_vectors(collection)
        self._bump(collection)

    def _insert(self, collection: str, rows: Sequence[ChunkRow]) -> None:
        self._db.executemany(
            """INSERT OR REPLACE INTO chunks (collection, chunk_id, source, content_hash, metadata, text)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [
                (collection, r.chunk_id, r.source, r.content_hash, json.dumps(dict(r.metadata), sort_keys=True), r.text)
                for r in rows
            ],
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO vectors (collection, content_hash, vector) VALUES (?, ?, ?)",
            [(collection, r.content_hash, blob(r.vector)) for r in rows if r.vector is not None],
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
        rows = []
        for content_hash in hashes:
            if content_hash in have:
                continue
            counts: dict[str, int] = {}
            for term in terms(texts[content_hash]):
                counts[term] = counts.get(term, 0) + 1
            ids = self._term_ids(list(counts), create=True)
            pairs = np.array([(ids[t], c) for t, c in counts.items()], dtype="<u4").reshape(-1, 2)
            rows.append((collection, content_hash, pairs.tobytes()))
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

    def _collect_vectors(self, collection: str) -> None:
        for table in ("vectors", "texts"):
            self._db.execute(
                f"""DELETE FROM {table} WHERE collection = ? AND content_hash NOT IN
                    (SELECT content_hash FROM chunks WHERE collection = ?)""",
                (collection, collection),
            )

    def delete_sources(self, collection: str, sources: Sequence[str]) -> None:
        if not sources:
            return
        self._delete(collection, sources)
        self._collect_vectors(collection)
        self._bump(collection)

    def drop(self, collection: str) -> None:
        for table in ("chunks", "vectors", "texts", "generations", "setups"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))

    def mirror(self, collection: str, rows: Iterable[ChunkRow]) -> None:
        """Make the collection's rows exactly ``rows`` (what Chroma holds)."""
        for table in ("chunks", "vectors", "texts"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))
        self._insert(collection, list(rows))
        self._bump(collection)

    def missing_vectors(self, collection: str) -> list[tuple[str, str]]:
        """``(chunk_id, content_hash)`` of one chunk per text that has no vector."""
        return list(self._db.execute(
            """SELECT MIN(chunk_id), content_hash FROM chunks c WHERE collection = ? AND NOT EXISTS
               (SELECT 1 FROM vectors v WHERE v.collection = c.collection AND v.content_hash = c.content_hash)
               GROUP BY content_hash""",
            (collection,),
        ))

    def put_vectors(self, collection: str, vectors: Mapping[str, Sequence[float]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors (collection, content_hash, vector) VALUES (?, ?, ?)",
            [(collection, h, blob(v)) for h, v in vectors.items()],
        )
        self._bump(collection)  # readers cached the matrix without these

    # --- reads for search ----------------------------------------------------------------------

    def matrix(self, collection: str) -> tuple[list[str], "np.ndarray"]:
        """The distinct texts' hashes and their vectors as one float32 matrix (rows in that order)."""
        import numpy as np

        hashes: list[str] = []
        blobs: list[bytes] = []
        for content_hash, blob in self._db.execute(
            "SELECT content_hash, vector FROM vectors WHERE collection = ?", (collection,)
        ):
            hashes.append(content_hash)
            blobs.append(blob)
        if not blobs:
            return hashes, np.zeros((0, 0), dtype=np.float32)
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
        return hashes, matrix

    def term_matrix(self, collection: str, row: Mapping[str, int], k1: float = 1.5, b: float = 0.75) -> Any:
        """BM25 weights as a sparse (terms x texts) CSR matrix; text columns in ``row`` order.

        Lucene's BM25 over the distinct texts: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
        weight = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)).
        """
        columns, blobs = [], []
        for content_hash, blob in self._db.execute(
            "SELECT content_hash, terms FROM texts WHERE collection = ?", (collection,)
        ):
            if content_hash in row:
                columns.append(row[content_hash])
                blobs.append(blob)
        return bm25_weights(columns, blobs, len(row), k1, b)

    def term_ids(self, words: Sequence[str]) -> list[int]:
        """Vocabulary ids of the (stemmed) ``words`` that any text has."""
        return list(self._term_ids(list(dict.fromkeys(words))).values())

    def chunks_of(self, collection: str, hashes: Sequence[str]) -> dict[str, list[str]]:
        """Chunk ids per content hash, in source order."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(hashes), 500):
            part = list(hashes[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"""SELECT chunk_id, content_hash, source, json_extract(metadata, '$.position') FROM chunks
                    INDEXED BY chunks_by_hash WHERE collection = ? AND content_hash IN ({marks})""",
                (collection, *part),
            ).fetchall()
            for chunk_id, content_hash, _, _ in sorted(rows, key=lambda r: (r[2], r[3] or 0, r[0])):
                out.setdefault(content_hash, []).append(chunk_id)
        return out

    def rows(self, collection: str, chunk_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any], str]]:
        """``chunk_id -> (text, metadata, content_hash)``."""
        if not chunk_ids:
            return {}
        out: dict[str, tuple[str, dict[str, Any], str]] = {}
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for chunk_id, metadata, content_hash, text in self._db.execute(
                f"""SELECT chunk_id, metadata, content_hash, text FROM chunks
                    WHERE collection = ? AND chunk_id IN ({marks})""",
                (collection, *part),
            ):
                out[chunk_id] = (text, json.loads(metadata), content_hash)
        return out

    def field_values(self, collection: str, field: str) -> list[Any]:
        path = "$." + json.dumps(field)
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT json_extract(metadata, ?) FROM chunks WHERE collection = ? AND json_extract(metadata, ?) IS NOT NULL",
            (path, collection, path),
        )]

    def ids_where(self, collection: str, field: str, values: Sequence[Any]) -> set[str]:
        path = "$." + json.dumps(field)
        wanted = {str(v) for v in values}
        return {
            chunk_id
            for chunk_id, value in self._db.execute(
                "SELECT chunk_id, json_extract(metadata, ?) FROM chunks WHERE collection = ?", (path, collection)
            )
            if value is not None and str(value) in wanted
        }
