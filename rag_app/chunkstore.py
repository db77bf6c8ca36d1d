"""The search side of the index, in the records' SQLite database.

Per physical collection:

- ``chunks``: every chunk's id, source, content hash and metadata (JSON);
- an FTS5 table of the chunk texts (``porter unicode61``: Porter stemming; the
  query drops stop words), ranked with SQLite's built-in BM25. It is updated
  row by row with the reindex, never rebuilt per query or per process;
- ``vectors``: **one vector per distinct text** (keyed by content hash). A file
  that repeats one paragraph 2,000 times adds one vector, not 2,000; exact
  search over these vectors cannot be crowded out by duplicates the way an
  HNSW graph is (see :mod:`rag_app.retrieval`).

Across collections and runs, ``embedding_cache`` maps (embedder variant,
content hash) to a vector, so no text is embedded twice.

Writes happen inside the records' transaction (:meth:`RecordStore.save`), so
the search side and the records always agree; the reindex checks the row count
against Chroma and re-mirrors Chroma when they differ (an index built before
this table existed, or a crash between the Chroma write and the records).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid        INTEGER PRIMARY KEY,
    collection   TEXT NOT NULL,
    chunk_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata     TEXT NOT NULL,
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
CREATE TABLE IF NOT EXISTS embedding_cache (
    model        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (model, content_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generations (
    collection TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
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

_TERM = re.compile(r"[^\W_]+")


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


def query_terms(text: str) -> list[str]:
    """The words of a question BM25 ranks by: lower-cased, stop words dropped, each once."""
    from chains.text import STOPWORDS

    seen: dict[str, None] = {}
    for word in _TERM.findall(text.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def _blob(vector: Sequence[float]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


class ChunkStore:
    """Reads and writes the search side; writes expect the caller's transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(SCHEMA)

    # --- bookkeeping --------------------------------------------------------------------

    @staticmethod
    def _fts(collection: str) -> str:
        return "fts_" + hashlib.sha1(collection.encode()).hexdigest()[:16]

    def _ensure_fts(self, collection: str) -> str:
        name = self._fts(collection)
        self._db.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')"
        )
        return name

    def _has_fts(self, collection: str) -> bool:
        name = self._fts(collection)
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row is not None

    def _bump(self, collection: str) -> None:
        self._db.execute(
            """INSERT INTO generations (collection, generation) VALUES (?, 1)
               ON CONFLICT (collection) DO UPDATE SET generation = generation + 1""",
            (collection,),
        )

    def generation(self, collection: str) -> int:
        """Changes whenever the collection's chunks change (cheap to ask per query)."""
        row = self._db.execute("SELECT generation FROM generations WHERE collection = ?", (collection,)).fetchone()
        return int(row[0]) if row else 0

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
        fts = self._ensure_fts(collection)
        self._delete(collection, fts, list(by_source))
        for source_rows in by_source.values():
            self._insert(collection, fts, source_rows)
        self._collect_vectors(collection)
        self._bump(collection)

    def _insert(self, collection: str, fts: str, rows: Sequence[ChunkRow]) -> None:
        for row in rows:
            cursor = self._db.execute(
                """INSERT OR REPLACE INTO chunks (collection, chunk_id, source, content_hash, metadata)
                   VALUES (?, ?, ?, ?, ?)""",
                (collection, row.chunk_id, row.source, row.content_hash, json.dumps(dict(row.metadata), sort_keys=True)),
            )
            self._db.execute(f"INSERT OR REPLACE INTO {fts} (rowid, text) VALUES (?, ?)", (cursor.lastrowid, row.text))
        self._db.executemany(
            "INSERT OR IGNORE INTO vectors (collection, content_hash, vector) VALUES (?, ?, ?)",
            [(collection, r.content_hash, _blob(r.vector)) for r in rows if r.vector is not None],
        )

    def _delete(self, collection: str, fts: str, sources: Sequence[str]) -> None:
        for source in sources:
            rowids = [r[0] for r in self._db.execute(
                "SELECT rowid FROM chunks WHERE collection = ? AND source = ?", (collection, source)
            )]
            self._db.executemany(f"DELETE FROM {fts} WHERE rowid = ?", [(r,) for r in rowids])
            self._db.execute("DELETE FROM chunks WHERE collection = ? AND source = ?", (collection, source))

    def _collect_vectors(self, collection: str) -> None:
        self._db.execute(
            """DELETE FROM vectors WHERE collection = ? AND content_hash NOT IN
               (SELECT content_hash FROM chunks WHERE collection = ?)""",
            (collection, collection),
        )

    def delete_sources(self, collection: str, sources: Sequence[str]) -> None:
        if not sources or not self._has_fts(collection):
            return
        self._delete(collection, self._fts(collection), sources)
        self._collect_vectors(collection)
        self._bump(collection)

    def drop(self, collection: str) -> None:
        self._db.execute(f"DROP TABLE IF EXISTS {self._fts(collection)}")
        for table in ("chunks", "vectors", "generations", "setups"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))

    def mirror(self, collection: str, rows: Iterable[ChunkRow]) -> None:
        """Make the collection's rows exactly ``rows`` (what Chroma holds)."""
        self._db.execute(f"DROP TABLE IF EXISTS {self._fts(collection)}")
        for table in ("chunks", "vectors"):
            self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (collection,))
        fts = self._ensure_fts(collection)
        self._insert(collection, fts, list(rows))
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
            [(collection, h, _blob(v)) for h, v in vectors.items()],
        )

    # --- the embedding cache (its own small transactions) ------------------------------------------

    def cached(self, model: str, hashes: Iterable[str]) -> dict[str, list[float]]:
        import numpy as np

        wanted = list(dict.fromkeys(hashes))
        found: dict[str, list[float]] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for content_hash, blob in self._db.execute(
                f"SELECT content_hash, vector FROM embedding_cache WHERE model = ? AND content_hash IN ({marks})",
                (model, *part),
            ):
                found[content_hash] = np.frombuffer(blob, dtype="<f4").tolist()
        return found

    def cache(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        if not vectors:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO embedding_cache (model, content_hash, vector) VALUES (?, ?, ?)",
                [(model, h, _blob(v)) for h, v in vectors.items()],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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

    def chunks_of(self, collection: str, hashes: Sequence[str]) -> dict[str, list[str]]:
        """Chunk ids per content hash, in source order."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(hashes), 500):
            part = list(hashes[start : start + 500])
            marks = ",".join("?" * len(part))
            for chunk_id, content_hash in self._db.execute(
                f"""SELECT chunk_id, content_hash FROM chunks WHERE collection = ? AND content_hash IN ({marks})
                    ORDER BY source, json_extract(metadata, '$.position'), chunk_id""",
                (collection, *part),
            ):
                out.setdefault(content_hash, []).append(chunk_id)
        return out

    def rows(self, collection: str, chunk_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any], str]]:
        """``chunk_id -> (text, metadata, content_hash)``."""
        if not chunk_ids or not self._has_fts(collection):
            return {}
        fts = self._fts(collection)
        out: dict[str, tuple[str, dict[str, Any], str]] = {}
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for chunk_id, metadata, content_hash, text in self._db.execute(
                f"""SELECT c.chunk_id, c.metadata, c.content_hash, f.text FROM chunks c JOIN {fts} f ON f.rowid = c.rowid
                    WHERE c.collection = ? AND c.chunk_id IN ({marks})""",
                (collection, *part),
            ):
                out[chunk_id] = (text, json.loads(metadata), content_hash)
        return out

    def bm25(self, collection: str, question: str, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """``(chunk_id, score)`` best first; score = -bm25 (higher is better), only chunks sharing a term."""
        terms = query_terms(question)
        if not terms or not self._has_fts(collection):
            return []
        fts = self._fts(collection)
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        # With a filter, rank everything that matches and keep the allowed ones.
        cap = -1 if allowed is not None else limit
        rows = self._db.execute(
            f"""SELECT c.chunk_id, -bm25({fts}) AS score FROM {fts} f JOIN chunks c ON c.rowid = f.rowid
                WHERE {fts} MATCH ? ORDER BY bm25({fts}) LIMIT ?""",
            (match, cap),
        )
        out = [(chunk_id, float(score)) for chunk_id, score in rows if allowed is None or chunk_id in allowed]
        return out[:limit]

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
