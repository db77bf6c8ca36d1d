"""The vector index: embed chunks into a Chroma collection, keep it in step with the files.

A reindex is idempotent and incremental by construction. Chunk ids derive from the source path
and the chunk's content, so unchanged text keeps its id and is never embedded twice. Per run:

1. walk the paths; a file whose size and mtime match its record is unchanged;
2. read the others, split them, and compare their chunk ids with what the
   index holds: new ids are embedded, vanished ids deleted, kept ids only get
   their line numbers refreshed if the text moved;
3. mark those files dirty, write new chunks, then delete stale ones, then
   record the files clean. A crash anywhere leaves dirty records, which the
   next run reconciles against what Chroma really holds.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from loaders import Chunk, FoundFile, SplitConfig
from rag_app.errors import IndexMismatch, IndexMissing
from rag_app.store import arrays, lease, writes
from rag_app.store.mirror import fill_missing_vectors
from rag_app.store.plan import Changes, plan_groups, removed_sources
from rag_app.store.records import FileRecord, RecordStore
from rag_app.store.report import IndexReport, Progress, SkippedFile
from rag_app.store.search_side import ChunkRow

if TYPE_CHECKING:
    import numpy as np
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from rag_app.embeddings import Embedder

ALIASES = lease.ALIASES  # a collection whose metadata maps index names to physical collections
SCHEMA_VERSION = 1
#: Chunks read, embedded and committed per group of a reindex: what bounds its memory.
GROUP_CHUNKS = 4096

class VectorIndex:
    """One Chroma collection plus the records of the files it was built from."""

    def __init__(
        self,
        client: "ClientAPI | Callable[[], ClientAPI]",
        name: str,
        embedder: "Embedder",
        split: SplitConfig,
        records: RecordStore,
        write_batch: int = 256,
        publish: bool = False,
    ) -> None:
        self._client = client
        self._factory = client if callable(client) and not hasattr(client, "get_collection") else None  # reopens
        self.name = name
        self.embedder = embedder
        self.split = split
        self.records = records
        self.write_batch = write_batch
        self.stop = threading.Event()  # set it to end a reindex after the current batch
        self.group_chunks = GROUP_CHUNKS
        self.arrays_from, self.ann_from = arrays.ARRAYS_FROM, None  # publish arrays / HNSW graph from (None: ann.ANN_FROM)
        self.publish = publish  # a shared server: publish each commit's stamp beside the collection
        self._writer: str | None = None  # our lease's identity while writing to a server
        self._physical: str | None = None
        self._vectors: dict[str, Any] = {}  # content hash -> vector written in the current group
        self._max_batch_size: int | None = None

    def release_client(self) -> None:
        """Close the embedded client this index opened: Chroma's in-process HNSW segment (~2.2 KB per chunk)
        leaves memory unless another client holds the store. A given client (a server's) is left alone."""
        if self._factory is not None and self._client is not self._factory:
            self._client.close()  # type: ignore[union-attr]
            self._client = self._factory

    @property
    def client(self) -> "ClientAPI":
        """The Chroma client, created on first use (a query served by the search side never needs it)."""
        if callable(self._client) and not hasattr(self._client, "get_collection"):
            self._client = self._client()
        return self._client  # type: ignore[return-value]

    # --- the collection and the setup recorded with it ---------------------------

    def setup(self) -> dict[str, str | int]:
        """What built this index; any change needs ``reindex --rebuild``."""
        return {
            "embedding": self.embedder.identity,
            "dimension": self.embedder.dimension,
            "chunk_size": self.split.chunk_size,
            "chunk_overlap": self.split.chunk_overlap,
            "encoding": self.split.encoding,
            "rag_app_schema": SCHEMA_VERSION,
        }

    def _check(self, collection: "Collection") -> "Collection":
        self.check_setup(dict(collection.metadata or {}))
        return collection

    def check_setup(self, recorded: dict[str, Any]) -> None:
        """Raise :class:`IndexMismatch` if ``recorded`` (what built the index) differs from now."""
        wanted = self.setup()
        diffs = [
            f"{key} {recorded.get(key)!r} -> {value!r}"
            for key, value in wanted.items()
            if key in recorded and recorded[key] != value
        ]
        if diffs:
            raise IndexMismatch(
                f"The index '{self.name}' was built with other settings ({'; '.join(diffs)}). "
                "Run `rag-app reindex --rebuild` to rebuild it, or restore the old settings."
            )

    def physical_name(self) -> str:
        """The Chroma collection currently serving this index (changes on ``--rebuild``)."""
        if self._physical is None:
            local = self.records.chunks.alias(self.name)
            if local is not None:
                self._physical = local
                return local
            try:
                aliases = self.client.get_collection(ALIASES, embedding_function=None).metadata or {}
            except Exception:
                aliases = {}
            self._physical = str(aliases.get(self.name, self.name))
        return self._physical

    def published(self) -> tuple[str, str]:
        """``(physical collection, writer's stamp)`` as recorded beside the collections in Chroma.

        Read-only: what a reader without (or unsure of) a local search side asks.
        """
        try:
            meta = self.client.get_collection(ALIASES, embedding_function=None).metadata or {}
        except Exception:  # no alias collection: never rebuilt, never published
            meta = {}
        physical = str(meta.get(self.name, self.name))
        return physical, str(meta.get(f"stamp:{physical}", ""))

    def _publish(self, physical: str) -> None:
        """With a server: record the search side's stamp beside the collection (readers compare it)."""
        if self.publish:
            lease.update(self.client, {f"stamp:{physical}": self.records.chunks.stamp(physical)}, self.name, self._writer)

    @contextmanager
    def writing(self, persist_dir: Path) -> Iterator[None]:
        """While this process writes: with a server, hold the writer lease (:mod:`rag_app.store.lease`)."""
        if not self.publish:
            yield
            return
        me = lease.identity(persist_dir)
        lease.acquire(self.client, self.name, me)
        self._writer = me
        try:
            yield
        finally:
            self._writer = None
            lease.release(self.client, self.name, me)

    def refresh(self) -> None:
        """Forget the cached collection name; the next call looks it up again."""
        self._physical = None

    def _set_alias(self, physical: str) -> None:
        changes = {self.name: physical, f"stamp:{physical}": self.records.chunks.stamp(physical)}
        lease.update(self.client, changes, self.name, self._writer)
        self.records.chunks.set_alias(self.name, physical)
        self._physical = physical

    def collection(self, create: bool = False) -> "Collection":
        if create:
            collection = self.client.get_or_create_collection(
                self.physical_name(),
                embedding_function=None,
                metadata=self.setup(),
                configuration={"hnsw": {"space": "cosine"}},
            )
            self._check(collection)
            self.records.chunks.set_setup(collection.name, {**self.setup(), "vectors": self.embedder.cache_identity})
            return collection
        try:
            collection = self.client.get_collection(self.physical_name(), embedding_function=None)
        except Exception:  # chromadb raises NotFoundError / ValueError depending on version
            raise IndexMissing(
                f"No index named '{self.name}' yet: run `rag-app reindex` (default: data/) first."
            ) from None
        return self._check(collection)

    def count(self) -> int:
        try:
            return self.collection().count()
        except IndexMissing:
            return 0

    # --- reindex --------------------------------------------------------------------

    def reindex(
        self,
        found: Sequence[FoundFile],
        roots: Sequence[Path],
        *,
        verify: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
        unreadable: Sequence[tuple[Path, str]] = (),
    ) -> IndexReport:
        """Bring the collection in step with ``found`` (the files now under ``roots``).

        Streams: files are read, split, embedded and written a group at a time (:data:`GROUP_CHUNKS`
        chunks), each committed before the next is read. ``unreadable``: reported as skipped.
        """
        started = time.perf_counter()
        report = IndexReport(files=len(found), dry_run=dry_run)
        report.skipped.extend(SkippedFile(str(path), reason) for path, reason in unreadable)
        collection = self.collection(create=not dry_run) if not dry_run else self._maybe_collection()
        physical = self.physical_name()
        records = self.records.lookup(physical)
        if collection is not None and not dry_run and (self.publish or not self.records.chunks.knows(physical)):
            self.sync_search_side(collection)  # embedded, a known collection is in step by construction
        planned = [0]
        for changes in plan_groups(found, records, collection, self.split, report, verify=verify,
                                   budget=self.group_chunks):
            if dry_run:
                continue
            assert collection is not None
            if self.stop.is_set() or not self._apply(collection, changes, report, planned, progress):
                report.interrupted = True  # dirty records make the next run finish the job
                report.chunks = collection.count()
                report.duration_s = time.perf_counter() - started
                return report
        removed = removed_sources(found, roots, records, collection, report, verify=verify)
        if dry_run:
            report.chunks = (collection.count() if collection else 0) + report.added - report.deleted
            report.duration_s = time.perf_counter() - started
            return report
        assert collection is not None
        if removed:
            self.records.mark_dirty(physical, removed)
            for source in removed:
                collection.delete(where={"source": source})
            self.records.forget(physical, removed)
        fill_missing_vectors(self.records, collection)
        wrote = self.publish or report.embedded or report.added or report.updated or report.deleted or removed
        report.chunks = collection.count() if wrote else self.records.chunks.count(physical)  # Chroma's loads it all
        texts = self.records.chunks.text_count(physical)
        if texts >= self.arrays_from:
            self.release_client()  # the export (and graph build) needs the memory Chroma's segment holds
            folder = self.records.path.parent / "arrays"
            arrays.export(self.records.chunks, physical, folder, ann_from=self.ann_from)
            arrays.uncache(self.records.chunks, physical, folder)  # the arrays are now the one copy
        self._publish(physical)
        report.duration_s = time.perf_counter() - started
        return report

    def _apply(
        self, collection: "Collection", changes: Changes, report: IndexReport, planned: list[int],
        progress: Progress | None,
    ) -> bool:
        """Write one group: new chunks, moved metadata, stale deletions, then its records and search
        side in one transaction. False if :attr:`stop` cut it short (its files stay dirty)."""
        physical = collection.name
        plans = changes.plans
        if plans:
            self.records.mark_dirty(physical, [str(p.found.path) for p in plans])
        to_add = [c for p in plans for c in p.to_add]
        planned[0] += len(to_add)
        done = self._write(collection, to_add, progress, report.embedded, planned[0])
        report.embedded += done
        if done < len(to_add):
            self._vectors.clear()
            return False
        to_update = [c for p in plans for c in p.to_update]
        for batch in _batches(to_update, self.write_batch):
            collection.update(ids=[c.id for c in batch], metadatas=[c.metadata() for c in batch])  # type: ignore[misc]
        stale = sorted({i for p in plans for i in p.stale})
        for batch in _batches(stale, self.write_batch):
            collection.delete(ids=batch)
        rows = [
            ChunkRow(c.id, c.source, c.content_hash, c.text, c.metadata(), self._vectors.get(c.content_hash))
            for p in plans
            for c in p.chunks
        ]
        self.records.save(
            physical,
            changes.touched
            + [
                FileRecord(str(p.found.path), p.found.size, p.found.mtime_ns, p.file_hash, tuple(c.id for c in p.chunks), False)
                for p in plans
            ],
            chunks=rows,
        )
        self._vectors.clear()
        self._publish(physical)
        return True

    # --- the search side (see rag_app.store.search_side) ---------------------------------------

    def sync_search_side(self, collection: "Collection", force: bool = False) -> bool:
        """Re-mirror Chroma into the search side when their chunk counts differ; True if it did."""
        from rag_app.store.mirror import mirror_chroma

        if not mirror_chroma(self.records, collection, force):
            return False
        self._publish(collection.name)
        return True

    def rebuild(
        self,
        found: Sequence[FoundFile],
        roots: Sequence[Path],
        *,
        progress: Progress | None = None,
        unreadable: Sequence[tuple[Path, str]] = (),
    ) -> IndexReport:
        """Build a new collection beside the serving one; switch over only when it is complete."""
        active = self.physical_name() if self._alias_or_collection_exists() else None
        for stale in self.client.list_collections():
            name = getattr(stale, "name", stale)
            if name.startswith(f"{self.name}--") and name != active:
                self.client.delete_collection(name)  # a rebuild that never finished
                self.records.drop_collection(name)
                arrays.forget(self.records.path.parent / "arrays", name)
        target = f"{self.name}--{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"
        self._physical = target
        try:
            report = self.reindex(found, roots, progress=progress, unreadable=unreadable)
        except BaseException:
            self._physical = active
            raise
        if report.interrupted:
            self._physical = active
            return report
        self._set_alias(target)
        if active is not None:
            try:
                self.client.delete_collection(active)
            except Exception:
                pass
            self.records.drop_collection(active)
            arrays.forget(self.records.path.parent / "arrays", active)
        return report

    def _alias_or_collection_exists(self) -> bool:
        try:
            self.client.get_collection(self.physical_name(), embedding_function=None)
            return True
        except Exception:
            return False

    def _maybe_collection(self) -> "Collection | None":
        try:
            return self.collection()
        except IndexMissing:
            return None

    def _embed(self, chunks: Sequence[Chunk]) -> "np.ndarray":
        """Vectors for ``chunks`` (float32 rows): each distinct text embedded once, ever (embedding cache)."""
        import numpy as np

        from rag_app.store.embedding_cache import cache, from_chroma

        db = self.records.connection
        model = self.embedder.cache_identity
        known = {h: self._vectors[h] for h in {c.content_hash for c in chunks} if h in self._vectors}
        wanted = list(dict.fromkeys(c.content_hash for c in chunks if c.content_hash not in known))
        known.update(self.records.chunks.cached_vectors(model, wanted))
        lent = from_chroma(self.client, self.records.chunks, model, [h for h in wanted if h not in known])
        cache(db, model, lent)  # exact vectors of texts the int8 arrays hold: cached again
        known.update(lent)
        todo: dict[str, str] = {}
        for c in chunks:
            if c.content_hash not in known:
                todo.setdefault(c.content_hash, c.text)
        if todo:
            vectors = np.asarray(self.embedder.embed_documents(list(todo.values())), dtype=np.float32)
            fresh = dict(zip(todo, vectors))
            cache(db, model, fresh)
            known.update(fresh)
        self._vectors.update(known)
        return np.stack([known[c.content_hash] for c in chunks]).astype(np.float32, copy=False)

    def _write(
        self, collection: "Collection", chunks: list[Chunk], progress: Progress | None, before: int = 0, total: int = 0,
    ) -> int:
        """Embed and upsert ``chunks`` (:func:`rag_app.store.writes.write_chunks`); how many were written."""
        self._max_batch_size = self._max_batch_size or writes.max_batch(self.client, self.write_batch)
        return writes.write_chunks(collection, chunks, self._embed, embed_batch=self.write_batch, stop=self.stop,
                                   upsert=min(writes.UPSERT_CHUNKS, self._max_batch_size), progress=progress,
                                   before=before, total=total)


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
