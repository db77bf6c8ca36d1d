"""What queries read from the search side (see :mod:`rag_app.store.search_side` for the tables).

Read-only: a reader's connection runs these inside one read transaction (a snapshot).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from rag_app.store.bm25 import TermCounts, impact_ordered_weights

if TYPE_CHECKING:
    import numpy as np


#: Metadata fields stored in their own columns of ``chunks``, not again in its JSON.
COLUMNS = ("source", "content_hash")


class SearchReads:
    """The search side's reads over ``_db`` (the writer's or a reader's connection)."""

    _db: sqlite3.Connection
    current = True  # False: an older layout a reader must not use

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

    def setup(self, collection: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT setup FROM setups WHERE collection = ?", (collection,)).fetchone()
        return json.loads(row[0]) if row else None

    def vector_key(self, collection: str) -> str:
        """The embedding cache's model key holding ``collection``'s vectors (recorded with its setup)."""
        return str((self.setup(collection) or {}).get("vectors", ""))

    def alias(self, name: str) -> str | None:
        """The physical collection serving index ``name``, if this database knows it."""
        row = self._db.execute("SELECT physical FROM aliases WHERE name = ?", (name,)).fetchone()
        if row:
            return str(row[0])
        return name if self.setup(name) is not None else None

    def count(self, collection: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks WHERE collection = ?", (collection,)).fetchone()[0])

    # --- reads for search ----------------------------------------------------------------------

    def matrix(self, collection: str) -> tuple[list[str], "np.ndarray"]:
        """The distinct texts' hashes and their vectors as one float32 matrix (rows in that order),
        from the embedding cache and the published arrays (:func:`rag_app.store.arrays.matrix`)."""
        from rag_app.store.arrays import matrix

        return matrix(self, self.arrays_folder, collection)  # type: ignore[arg-type]

    @property
    def arrays_folder(self) -> Path:
        """Where the writer publishes arrays: ``arrays/`` beside this database file."""
        row = self._db.execute("PRAGMA database_list").fetchone()
        return Path(row[2]).parent / "arrays"

    def cached_vectors(self, key: str, hashes: Sequence[str]) -> "dict[str, np.ndarray]":
        """The embedding cache's vectors (float32) of ``hashes`` under embedder variant ``key``."""
        import numpy as np

        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(hashes))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for content_hash, data in self._db.execute(
                f"SELECT content_hash, vector FROM embedding_cache WHERE model = ? AND content_hash IN ({marks})",
                (key, *part),
            ):
                found[content_hash] = np.frombuffer(data, dtype="<f4")
        return found

    def collections_with_key(self, key: str) -> list[str]:
        """Collections whose vectors are embedder variant ``key`` (their arrays can lend vectors)."""
        return [name for name, setup in self._db.execute("SELECT collection, setup FROM setups")
                if json.loads(setup).get("vectors") == key]

    def sorted_hashes(self, collection: str) -> Iterator[str]:
        """The distinct texts' content hashes, in order."""
        return (r[0] for r in self._db.execute(
            "SELECT content_hash FROM texts WHERE collection = ? ORDER BY content_hash", (collection,)
        ))

    def text_count(self, collection: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM texts WHERE collection = ?", (collection,)).fetchone()[0])

    def dimension(self, collection: str) -> int:
        return int((self.setup(collection) or {}).get("dimension", 0))

    def term_matrix(self, collection: str, row: Mapping[str, int], k1: float = 1.5, b: float = 0.75) -> Any:
        """BM25 weights as a sparse (terms x texts) CSR matrix, each term's row impact-ordered; text
        columns in ``row`` order.

        Lucene's BM25 over the distinct texts: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
        weight = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)).
        """
        counts = TermCounts()  # flat buffers, not a bytes object per text: bounded at a million texts
        for content_hash, blob in self._db.execute(
            "SELECT content_hash, terms FROM texts WHERE collection = ?", (collection,)
        ):
            if content_hash in row:
                counts.add(row[content_hash], blob)
        return impact_ordered_weights(counts, len(row), k1, b)

    def term_counts(self, collection: str, hashes: Sequence[str]) -> dict[str, bytes]:
        """``content hash -> (term id, count) pairs`` (little-endian uint32) of those texts."""
        out: dict[str, bytes] = {}
        for start in range(0, len(hashes), 500):
            part = list(hashes[start : start + 500])
            marks = ",".join("?" * len(part))
            out.update(self._db.execute(
                f"SELECT content_hash, terms FROM texts WHERE collection = ? AND content_hash IN ({marks})",
                (collection, *part),
            ).fetchall())
        return out

    def term_ids(self, words: Sequence[str]) -> list[int]:
        """Vocabulary ids of the (stemmed) ``words`` that any text has."""
        found: list[int] = []
        wanted = list(dict.fromkeys(words))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            found += [r[0] for r in self._db.execute(f"SELECT id FROM vocab WHERE term IN ({marks})", part)]
        return found

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
            for chunk_id, metadata, content_hash, text, source in self._db.execute(
                f"""SELECT chunk_id, metadata, content_hash, text, source FROM chunks
                    WHERE collection = ? AND chunk_id IN ({marks})""",
                (collection, *part),
            ):
                meta = json.loads(metadata)
                meta.update(source=source, content_hash=content_hash)  # kept in their columns only
                out[chunk_id] = (text, meta, content_hash)
        return out

    def field_values(self, collection: str, field: str) -> list[Any]:
        if field in COLUMNS:
            return [r[0] for r in self._db.execute(f"SELECT DISTINCT {field} FROM chunks WHERE collection = ?", (collection,))]
        path = "$." + json.dumps(field)
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT json_extract(metadata, ?) FROM chunks WHERE collection = ? AND json_extract(metadata, ?) IS NOT NULL",
            (path, collection, path),
        )]

    def ids_where(self, collection: str, field: str, values: Sequence[Any]) -> dict[str, str]:
        """``chunk id -> content hash`` of the chunks whose ``field`` is one of ``values``."""
        wanted = {str(v) for v in values}
        if field in COLUMNS:  # indexed columns: read only the matching rows
            found: dict[str, str] = {}
            values = sorted(wanted)
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                found.update(self._db.execute(
                    f"SELECT chunk_id, content_hash FROM chunks WHERE collection = ? AND {field} IN ({','.join('?' * len(part))})",
                    (collection, *part),
                ).fetchall())
            return found
        path = "$." + json.dumps(field)
        return {
            chunk_id: content_hash
            for chunk_id, content_hash, value in self._db.execute(
                "SELECT chunk_id, content_hash, json_extract(metadata, ?) FROM chunks WHERE collection = ?", (path, collection)
            )
            if value is not None and str(value) in wanted
        }
