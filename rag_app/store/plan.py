"""What a reindex must change: the files to read, and per file the chunks to embed, refresh and delete.

Reading and comparing only; nothing here writes. :class:`~rag_app.store.index.VectorIndex`
then writes what :func:`plan_groups` finds, one group of files at a time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

from loaders import Chunk, FoundFile, Notice, SplitConfig, UnreadableFile, load_chunks, loader_version
from rag_app.errors import ConfigError, SourceMissing
from rag_app.store.records import FileRecord
from rag_app.store.report import FileWarning, IndexReport, SkippedFile

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from rag_app.settings import Settings


def find_sources(
    settings: "Settings", paths: Sequence[str | Path] | None = None
) -> tuple[list[FoundFile], list[Path], list[tuple[Path, str]]]:
    """The files to index under ``paths`` (default RAG_DATA) with RAG_INCLUDE/RAG_EXCLUDE:
    ``(found, resolved roots, unreadable entries with the reason)``."""
    from loaders import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, SourceNotFound, walk

    s = settings
    roots = [Path(p) for p in (paths or s.split_list(s.data_paths))]
    if not roots:
        raise ConfigError("Nothing to index: pass PATH or set RAG_DATA")
    include = s.split_list(s.include) or list(DEFAULT_INCLUDE)
    exclude = list(DEFAULT_EXCLUDE) + s.split_list(s.exclude)
    unreadable: list[tuple[Path, str]] = []
    try:
        found = walk(roots, include, exclude, skipped=unreadable, follow_links=s.follow_links)
    except SourceNotFound as exc:
        raise SourceMissing(f"{exc}: check the path you asked to index") from None
    return found, [r.expanduser().resolve() for r in roots], unreadable


@dataclass
class FilePlan:
    """One changed file: its chunks, and which of them are new, moved or gone."""

    found: FoundFile
    file_hash: str
    chunks: list[Chunk]
    existing: set[str]
    to_add: list[Chunk]
    to_update: list[Chunk]
    stale: set[str]


@dataclass
class Changes:
    """What one group of files needs written (see :func:`plan_groups`)."""

    plans: list[FilePlan] = field(default_factory=list)
    touched: list[FileRecord] = field(default_factory=list)  # content unchanged, size/mtime refreshed


def plan_groups(
    found: Sequence[FoundFile],
    records: Mapping[str, FileRecord],
    collection: "Collection | None",
    split: SplitConfig,
    report: IndexReport,
    *,
    verify: bool = False,
    budget: int = 4096,
) -> Iterator[Changes]:
    """Compare ``found`` with ``records``, a group of files at a time; count it all in ``report``.

    A group holds the changed files read until their chunks number ``budget`` or more
    (one file is never split), so memory is bounded by the group, not the corpus.
    """
    changes, pending = Changes(), 0
    version = loader_version(split)
    # An empty collection holds no chunk of a file without a record: no need to ask it per file.
    # Asked only once a file changed (counting makes embedded Chroma load its whole vector segment).
    fresh: bool | None = None
    for f in found:
        source = str(f.path)
        record = records.get(source)
        current = record is not None and not record.dirty and record.file_hash.startswith(f"{version}:")
        if record and current and not verify and (record.size, record.mtime_ns) == (f.size, f.mtime_ns):
            report.unchanged += len(record.chunk_ids)
            report.files_indexed += 1
            report.files_unchanged += 1
            continue
        try:
            data = f.path.read_bytes()
        except OSError as exc:
            report.skipped.append(SkippedFile(source, f"cannot read: {exc.strerror}"))
            continue
        report.files_read += 1
        # The loader version is part of the hash: a new loader re-splits every file.
        file_hash = f"{version}:{hashlib.sha256(data).hexdigest()}"
        if record and not record.dirty and record.file_hash == file_hash:
            report.unchanged += len(record.chunk_ids)
            report.files_indexed += 1
            report.files_unchanged += 1
            changes.touched.append(FileRecord(source, f.size, f.mtime_ns, file_hash, record.chunk_ids, False))
            continue
        notices: list[Notice] = []
        try:
            chunks = load_chunks(f.path, split, data, notices)
        except UnreadableFile as exc:
            if record and record.chunk_ids:
                # Indexed before (a half-written file under --watch, a bad save): keep its answers.
                kept = len(record.chunk_ids)
                report.unchanged += kept
                report.skipped.append(SkippedFile(source, f"{exc}; kept its {kept} chunks from the last reindex"))
            else:
                report.skipped.append(SkippedFile(source, str(exc)))
            continue
        del data
        report.files_indexed += 1
        report.warnings.extend(FileWarning(source, n.reason, n.line, n.page) for n in notices)
        if record is None and fresh is None:
            fresh = collection is None or collection.count() == 0
        changes.plans.append(plan_file(None if record is None and fresh else collection, f, file_hash, chunks, record))
        pending += len(chunks)
        if pending >= budget:
            _count(changes, split, report)
            yield changes
            changes, pending = Changes(), 0
    if changes.plans or changes.touched:
        _count(changes, split, report)
        yield changes


def removed_sources(
    found: Sequence[FoundFile],
    roots: Sequence[Path],
    records: Mapping[str, FileRecord],
    collection: "Collection | None",
    report: IndexReport,
    *,
    verify: bool = False,
) -> list[str]:
    """Sources the index holds that are gone from ``roots`` (or from disk); counted in ``report``."""
    found_sources = {str(f.path) for f in found}
    known = set(records)
    if verify and collection is not None:
        # Sources the index holds but the records never knew (e.g. written by another machine).
        known |= indexed_sources(collection)
    removed = [
        source for source in sorted(known)
        if source not in found_sources and (_under(source, roots) or not os.path.exists(source))
    ]
    for source in removed:
        record = records.get(source)
        clean = record is not None and not record.dirty
        report.deleted += len(record.chunk_ids) if clean else _count_source(collection, source)  # type: ignore[union-attr]
        report.deleted_files.append(source)
    return removed


def _count(changes: Changes, split: SplitConfig, report: IndexReport) -> None:
    for plan in changes.plans:
        new_only, gone = len(plan.to_add), len(plan.stale)
        paired = min(new_only, gone)
        report.updated += paired
        report.added += new_only - paired
        report.deleted += gone - paired
        report.unchanged += len(plan.chunks) - new_only
        if report.dry_run:
            from loaders.tokens import count_tokens

            report.tokens_to_embed += sum(count_tokens(c.text, split.encoding) for c in plan.to_add)
        if plan.to_add or plan.stale or plan.to_update:
            report.changed_files.append(str(plan.found.path))


def plan_file(
    collection: "Collection | None",
    found: FoundFile,
    file_hash: str,
    chunks: list[Chunk],
    record: FileRecord | None,
) -> FilePlan:
    """Which of ``chunks`` the index lacks, holds with old metadata, or holds but no longer needs."""
    source = str(found.path)
    if record is not None and not record.dirty:
        existing = set(record.chunk_ids)
    elif collection is not None:
        # No trustworthy record: ask the index what it really holds.
        existing = set(collection.get(where={"source": source}, include=[])["ids"])
    else:
        existing = set()
    new_ids = {c.id for c in chunks}
    to_add = [c for c in chunks if c.id not in existing]
    kept = [c for c in chunks if c.id in existing]
    to_update: list[Chunk] = []
    if kept and collection is not None:
        current = collection.get(ids=[c.id for c in kept], include=["metadatas"])
        by_id = dict(zip(current["ids"], current["metadatas"] or []))
        to_update = [c for c in kept if dict(by_id.get(c.id) or {}) != c.metadata()]
        # Ids the record knew but the index lost (e.g. a crash): embed them again.
        to_add += [c for c in kept if c.id not in by_id]
    return FilePlan(found, file_hash, chunks, existing, to_add, to_update, existing - new_ids)


def indexed_sources(collection: "Collection", page: int = 5000) -> set[str]:
    """Every ``source`` the collection holds chunks of, read a page at a time."""
    sources: set[str] = set()
    offset = 0
    while True:
        batch = collection.get(include=["metadatas"], limit=page, offset=offset)
        sources.update(str((m or {}).get("source", "")) for m in batch["metadatas"] or [])
        if len(batch["ids"]) < page:
            return sources - {""}
        offset += page


def _count_source(collection: "Collection | None", source: str) -> int:
    if collection is None:
        return 0
    return len(collection.get(where={"source": source}, include=[])["ids"])


def _under(source: str, roots: Iterable[Path]) -> bool:
    return any(source == str(r) or source.startswith(str(r) + os.sep) for r in roots)
