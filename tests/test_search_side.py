"""The search side (chunk rows, FTS5 text, one vector per distinct text) always equals what Chroma holds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def rounded(vector) -> tuple[float, ...]:
    return tuple(np.round(np.asarray(vector, dtype=np.float32), 4).tolist())


def chroma_view(app) -> dict[str, tuple]:
    got = app.vector_index().collection().get(include=["documents", "metadatas", "embeddings"])
    return {
        i: (m["content_hash"], d, dict(m), rounded(e))
        for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])
    }


def side_view(app) -> dict[str, tuple]:
    index = app.vector_index()
    store = index.records.chunks
    physical = index.physical_name()
    ids = [r[0] for r in index.records.connection.execute("SELECT chunk_id FROM chunks WHERE collection = ?", (physical,))]
    hashes, matrix = store.matrix(physical)
    vectors = {h: rounded(v) for h, v in zip(hashes, matrix)}
    assert len(hashes) == len(set(hashes))
    return {i: (h, text, meta, vectors[h]) for i, (text, meta, h) in store.rows(physical, ids).items()}


def test_the_search_side_follows_edits_deletes_and_renames(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    assert side_view(app) == chroma_view(app) and len(side_view(app)) > 10
    (corpus / "faq.html").unlink()
    (corpus / "warranty.md").rename(corpus / "guarantee.md")
    text = (corpus / "maintenance.txt").read_text()
    (corpus / "maintenance.txt").write_text("Inserted line.\n\n" + text.replace("chain", "drive chain", 1))
    app.reindex([corpus])
    assert side_view(app) == chroma_view(app)
    sources = {Path(d.metadata["source"]).name for d in app.retrieve("warranty frame questions", k=50, search="bm25")}
    assert "guarantee.md" in sources and not sources & {"faq.html", "warranty.md"}


def test_a_crash_after_the_chroma_write_is_repaired_by_the_next_run(make_app, corpus: Path, monkeypatch):
    app = make_app()
    app.reindex([corpus])
    (corpus / "extra.txt").write_text("Brand new text about saddles and bells.\n")
    records = app.vector_index().records

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(records, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        app.reindex([corpus])
    monkeypatch.undo()
    assert side_view(app) != chroma_view(app)  # Chroma has the new chunk, the search side not yet
    app.reindex([corpus])
    assert side_view(app) == chroma_view(app)
    assert "saddles" in app.retrieve("saddles and bells", k=1)[0].page_content


def test_an_index_without_a_search_side_is_answered_by_chroma_until_the_writer_rebuilds_it(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    expected = chroma_view(app)
    index = app.vector_index()
    db = index.records.connection
    for table in ("chunks", "texts", "generations", "setups", "aliases"):
        db.execute(f"DELETE FROM {table}")  # as an index written before the search side existed
    app.close()
    again = make_app()
    question = "How long is the warranty on an aluminium frame?"
    found = again.retrieve(question, k=2, search="vector")
    assert [d.id for d in found] == oracle(again, expected, question, 2)  # Chroma answered
    assert db_count(again, "chunks") == 0  # the query wrote nothing
    again.reindex([corpus])  # the writer mirrors Chroma
    assert side_view(again) == expected


def oracle(app, expected: dict[str, tuple], question: str, k: int) -> list[str]:
    """The ids of the ``k`` chunks whose stored vectors are closest to ``question``."""
    q = np.asarray(app.embedder.embed_query(question), dtype=np.float32)
    return sorted(expected, key=lambda i: -float(np.asarray(expected[i][3], dtype=np.float32) @ q))[:k]


def db_count(app, table: str) -> int:
    return app.vector_index().records.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_bm25_stems_and_ignores_stop_words(make_app, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bikes.txt").write_text("Bicycles need their chains oiled every month.\n")
    (docs / "other.txt").write_text("The the the of of and and is is it it.\n")
    (docs / "boats.txt").write_text("A sailing boat is steered with a rudder.\n")
    app = make_app()
    app.reindex([docs])
    found = app.retrieve("the bicycle chain", k=3, search="bm25")
    assert [Path(d.metadata["source"]).name for d in found] == ["bikes.txt"]  # stemmed; stop words match nothing
    assert app.retrieve("of the and", k=3, search="bm25") == []


def test_an_older_search_side_layout_is_left_to_the_writer_and_rebuilt_by_it(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    expected = chroma_view(app)
    db = app.vector_index().records.connection
    db.execute("UPDATE search_meta SET value = 'old' WHERE key = 'schema'")
    db.execute("ALTER TABLE chunks DROP COLUMN text")  # as a layout without the column
    cached = db.execute("SELECT COUNT(*) FROM embedding_cache").fetchone()[0]
    app.close()
    again = make_app()
    assert again.retrieve("How long is the warranty on an aluminium frame?", k=2)  # read-only, from Chroma
    assert again.searcher.corpus_builds == 0
    again.reindex([corpus])  # the writer drops the old layout and mirrors Chroma
    assert side_view(again) == expected
    assert db_count(again, "embedding_cache") == cached
    assert again.retrieve("How long is the warranty on an aluminium frame?", k=2)
    assert again.searcher.corpus_builds == 1


def test_published_arrays_are_mapped_and_answer_as_the_search_side_does(make_app, corpus: Path):
    plain = make_app()
    plain.reindex([corpus])
    mapped = make_app(persist_dir=str(corpus.parent / "mapped"))
    mapped.vector_index(create=True).arrays_from = 0  # publish at any size
    mapped.reindex([corpus])
    arrays = sorted(p.name.split(".", 1)[1] for p in (corpus.parent / "mapped" / "arrays").iterdir())
    assert arrays == ["bm25-data.npy", "bm25-indices.npy", "bm25-indptr.npy", "bm25-stats.npy", "hashes.npy", "scales.npy",
                      "vectors.npy"]
    for question in ("How long is the warranty on an aluminium frame?", "error code E01 battery", "chain oil"):
        for search in ("vector", "bm25", "hybrid", "mmr"):
            got = mapped.retrieve(question, k=4, search=search)
            want = plain.retrieve(question, k=4, search=search)
            assert [d.id for d in got] == [d.id for d in want], search
            # int8 vectors (one scale each) in the published file: the same ranking, cosines within 5e-3
            assert [d.metadata["score"] for d in got] == pytest.approx([d.metadata["score"] for d in want], abs=5e-3)
    view = mapped.searcher.loaded
    assert isinstance(view.matrix.codes, np.memmap)  # mapped from the writer's file, not loaded
    (corpus / "warranty.md").unlink()
    mapped.reindex([corpus])  # a new stamp: new arrays, the old ones deleted
    assert len(list((corpus.parent / "mapped" / "arrays").iterdir())) == 7
    assert all("warranty.md" not in d.metadata["source"] for d in mapped.retrieve("warranty frame", k=8))


def test_a_published_hnsw_graph_answers_vector_search_as_the_exact_scan_does(
    make_app, corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    plain = make_app()
    plain.reindex([corpus])
    app = make_app(persist_dir=str(corpus.parent / "graph"))
    index = app.vector_index(create=True)
    index.arrays_from = index.ann_from = 0  # publish the arrays and the graph at any size
    app.reindex([corpus])
    folder = corpus.parent / "graph" / "arrays"
    # the graph holds the int8 codes: no separate vectors file beside it (one copy)
    assert sorted(p.name.split(".", 1)[1] for p in folder.iterdir()) == [
        "bm25-data.npy", "bm25-indices.npy", "bm25-indptr.npy", "bm25-stats.npy", "hashes.npy", "hnsw.usearch", "scales.npy"]
    questions = ("How long is the warranty on an aluminium frame?", "error code E01 battery", "chain oil")
    for question in questions:
        for search in ("vector", "hybrid", "mmr"):
            got = app.retrieve(question, k=4, search=search)
            want = plain.retrieve(question, k=4, search=search)
            assert [d.id for d in got] == [d.id for d in want], search
            assert [d.metadata["score"] for d in got] == pytest.approx([d.metadata["score"] for d in want], abs=5e-3)
    assert app.searcher.loaded.graph is not None  # the graph answered, not a scan
    for where in ("source:*warranty.md", "source:*.md", "source:*nothing-like-this*.md"):
        try:  # a filter scores the rows of the texts it keeps, read from the graph, exactly
            want = plain.retrieve("warranty frame", k=4, search="vector", where=where)
        except Exception as error:
            with pytest.raises(type(error)):
                app.retrieve("warranty frame", k=4, search="vector", where=where)
            continue
        got = app.retrieve("warranty frame", k=4, search="vector", where=where)
        assert [d.id for d in got] == [d.id for d in want] and got
        assert [d.metadata["score"] for d in got] == pytest.approx([d.metadata["score"] for d in want], abs=5e-3)
    assert all(d.metadata["source"].endswith("warranty.md")
               for d in app.retrieve("warranty", k=4, search="vector", where="source:*warranty.md"))
    from rag_app.store import ann

    monkeypatch.setattr(ann, "REBUILD_SHARE", 1.0)  # this tiny corpus changes by a large share: update anyway
    built = []
    monkeypatch.setattr(ann, "build", lambda *a, _build=ann.build, **kw: built.append(_build(*a, **kw)) or built[-1])
    (corpus / "warranty.md").unlink()
    (corpus / "pumps.md").write_text("Inflate road tyres to 6-7 bar with a floor pump.\n")
    app.reindex([corpus])  # a new stamp: the graph updated (removed + added texts), the old file deleted
    plain.reindex([corpus])
    assert built == ["updated"]
    assert len([p for p in folder.iterdir() if p.name.endswith(".usearch")]) == 1
    assert all("warranty.md" not in d.metadata["source"] for d in app.retrieve("warranty frame", k=8, search="vector"))
    for question in questions + ("How hard should road tyres be inflated?",):
        assert [d.id for d in app.retrieve(question, k=4, search="vector")] == [
            d.id for d in plain.retrieve(question, k=4, search="vector")]


def test_a_reindex_that_publishes_arrays_first_closes_its_chroma_client_and_reopens_it_after(
    make_app, corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    """Chroma's in-process HNSW segment (~2.2 KB per chunk) must not sit beside the export and graph build."""
    from chromadb.api.client import Client

    closed: list[object] = []
    monkeypatch.setattr(Client, "close", lambda self, _close=Client.close: closed.append(self) or _close(self))
    app = make_app(persist_dir=str(corpus.parent / "graph"))
    index = app.vector_index(create=True)
    index.arrays_from = index.ann_from = 0
    first = app.reindex([corpus])
    assert len(closed) == 1 and first.chunks > 0
    assert index.count() == first.chunks  # opened again on the next use
    (corpus / "pumps.md").write_text("Inflate road tyres to 6-7 bar with a floor pump.\n")
    second = app.reindex([corpus])
    assert len(closed) == 2 and second.chunks == first.chunks + 1
    rebuilt = app.reindex([corpus], rebuild=True)  # deletes the old collection with a reopened client
    assert rebuilt.chunks == second.chunks
    assert app.retrieve("How hard should road tyres be inflated?", k=1)[0].metadata["source"].endswith("pumps.md")
    index.arrays_from = 10**9  # a small index publishes no arrays: the client stays open
    (corpus / "pumps.md").write_text("Inflate road tyres to 6-7 bar with a track pump.\n")
    app.reindex([corpus])
    assert len(closed) == 3  # only the rebuild's export closed it once more


def test_a_no_change_reindex_reads_nothing_from_embedded_chroma(make_app, corpus: Path, monkeypatch: pytest.MonkeyPatch):
    """Any read of an embedded collection loads its whole HNSW segment (2.2 GB at 1M chunks): a
    scheduled run that finds nothing changed must not pay it."""
    from chromadb.api.models.Collection import Collection

    app = make_app()
    first = app.reindex([corpus])
    reads: list[str] = []
    for name in ("count", "get", "query", "peek"):
        original = getattr(Collection, name)
        monkeypatch.setattr(Collection, name, lambda self, *a, _n=name, _o=original, **kw: reads.append(_n) or _o(self, *a, **kw))
    again = app.reindex([corpus])
    assert reads == [] and (again.chunks, again.added, again.deleted) == (first.chunks, 0, 0)
    (corpus / "extra.txt").write_text("Brand new text about saddles and bells.\n")
    third = app.reindex([corpus])
    assert "count" in reads and third.chunks == first.chunks + 1  # a changing run counts what Chroma holds


def test_a_fresh_cli_query_maps_the_graph_then_embeds_the_question_with_the_shipped_model(
    make_app, corpus: Path, tmp_path: Path
):
    """A reader maps the graph (USearch) before it embeds the question (onnxruntime): in that import
    order USearch's own C++ runtime crashed the process (a segfault, no answer)."""
    import json
    import os
    import subprocess
    import sys

    persist = tmp_path / "graph-minilm"
    app = make_app(persist_dir=str(persist), embeddings="minilm", llm="extractive")
    index = app.vector_index(create=True)
    index.arrays_from = index.ann_from = 0
    app.reindex([corpus])
    app.close()
    assert [p.name for p in (persist / "arrays").glob("*.hnsw.usearch")]  # the query below maps a graph
    run = subprocess.run(
        [sys.executable, "-m", "rag_app", "query", "How long is the warranty on an aluminium frame?", "--json"],
        env={**os.environ, "RAG_PERSIST_DIR": str(persist), "RAG_EMBEDDINGS": "minilm", "RAG_LLM": "extractive"},
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout)
    assert answer["sources"][0]["source"].endswith("warranty.md")
    assert "10" in answer["answer"] or "ten" in answer["answer"].lower()


@pytest.mark.parametrize("graph", [False, True], ids=["vectors-file", "graph"])
def test_published_vectors_are_the_only_copy_and_still_found_between_stamps_and_after_a_rebuild(
    make_app, corpus: Path, graph: bool
):
    """With a graph its int8 codes are the one copy: lent to the next stamp and collection from it."""
    plain = make_app()
    plain.reindex([corpus])
    app = make_app(persist_dir=str(corpus.parent / "mapped"))
    app.vector_index(create=True).arrays_from = 0
    app.vector_index().ann_from = 0 if graph else None
    app.reindex([corpus])
    assert db_count(app, "embedding_cache") == 0  # the published arrays hold the one copy
    names = [p.name for p in (corpus.parent / "mapped" / "arrays").iterdir()]
    assert (any(n.endswith(".vectors.npy") for n in names), any(n.endswith(".usearch") for n in names)) == (not graph, graph)

    def same_answers() -> None:
        for question in ("How long is the warranty on an aluminium frame?", "error code E01 battery"):
            for search in ("vector", "hybrid", "mmr"):
                assert [d.id for d in app.retrieve(question, k=4, search=search)] == [
                    d.id for d in plain.retrieve(question, k=4, search=search)
                ], search

    same_answers()
    calls: list[int] = []
    embedder = app.vector_index().embedder
    original = embedder.embed_documents
    embedder.embed_documents = lambda texts: calls.append(len(texts)) or original(texts)  # type: ignore[method-assign]
    (corpus / "copy.md").write_text((corpus / "warranty.md").read_text())
    app.reindex([corpus])  # the copy's texts: exact vectors from Chroma, not embedded again
    assert calls == [] and db_count(app, "embedding_cache") == 0
    plain.reindex([corpus])
    same_answers()
    db = app.vector_index().records.connection
    db.execute("UPDATE generations SET generation = generation + 1, stamp = '00000000000000ff'")  # as mid-run
    same_answers()  # no arrays for this stamp: the reader loads the cache and the previous arrays
    assert isinstance(app.searcher.loaded.matrix, np.ndarray)
    app.reindex([corpus], rebuild=True)  # a new collection: vectors lent by the old one's arrays
    assert calls == []  # nothing embedded twice
    same_answers()
    assert len(list((corpus.parent / "mapped" / "arrays").iterdir())) == 7  # the old collection's retired
    app.vector_index().arrays_from = 10**9  # the next collection publishes none: the retired arrays'
    app.reindex([corpus], rebuild=True)  # vectors go back to the cache before their file is deleted
    assert calls == []
    same_answers()
    assert list((corpus.parent / "mapped" / "arrays").iterdir()) == []
    assert db_count(app, "embedding_cache") > 0


def test_capped_keyword_reads_take_each_terms_highest_weights_and_grow_with_the_collection(
    monkeypatch: pytest.MonkeyPatch,
):
    from scipy.sparse import csr_matrix

    from rag_app.store import bm25

    weights = csr_matrix(np.array([[0.1, 0.9, 0.0, 0.5], [0.3, 0.0, 0.2, 0.0]], dtype=np.float32))
    ordered = bm25.impact_order(weights)
    assert (ordered.toarray() == weights.toarray()).all()  # the same matrix, rows by weight
    columns, totals, partial = bm25.top_postings(ordered, [0, 1])
    assert not partial and dict(zip(columns.tolist(), totals.tolist())) == pytest.approx({0: 0.4, 1: 0.9, 2: 0.2, 3: 0.5})
    monkeypatch.setattr(bm25, "POSTINGS_CAP", 1)
    monkeypatch.setattr(bm25, "POSTINGS_SHARE", 0.0)
    columns, totals, partial = bm25.top_postings(ordered, [0, 1])
    assert partial and dict(zip(columns.tolist(), totals.tolist())) == pytest.approx({1: 0.9, 0: 0.3})  # each term's best
    monkeypatch.setattr(bm25, "POSTINGS_SHARE", 0.5)  # a larger collection reads further: half of 4 texts
    columns, totals, partial = bm25.top_postings(ordered, [0, 1])
    assert partial and dict(zip(columns.tolist(), totals.tolist())) == pytest.approx({1: 0.9, 3: 0.5, 0: 0.3, 2: 0.2})
    columns, totals = bm25.accumulate(weights, [0, 1])  # a matrix built in the reader: every posting
    assert columns.tolist() == [0, 1, 2, 3]
    monkeypatch.setattr(bm25, "POSTINGS_CAP", None)
    assert bm25.read_cap(4) == 4


def test_rescoring_from_term_counts_equals_the_weight_matrix():
    from rag_app.store import bm25

    rng = np.random.default_rng(3)
    blobs = []
    for _ in range(60):
        terms = rng.choice(40, size=int(rng.integers(1, 12)), replace=False)
        pairs = np.stack([terms, rng.integers(1, 4, size=len(terms))], axis=1).astype("<u4")
        blobs.append(pairs.tobytes())
    weights = bm25.bm25_weights(list(range(60)), blobs, 60)
    question = [3, 17, 25, 39]
    df = [int(weights.indptr[t + 1] - weights.indptr[t]) for t in question]
    exact = np.asarray(weights[question].sum(axis=0)).ravel()
    assert bm25.rescore(blobs, question, df, weights.bm25_stats) == pytest.approx(exact, rel=1e-5, abs=1e-6)
    ordered = bm25.impact_order(weights)
    assert ordered.bm25_stats is weights.bm25_stats


def test_the_writers_one_pass_build_equals_weights_then_impact_order():
    """The export's bounded-memory build (flat buffers, one sort) is the same matrix as the
    two-pass reference, texts arriving in any column order; no texts gives an empty matrix."""
    from rag_app.store import bm25

    rng = np.random.default_rng(5)
    n = 300
    columns = [int(c) for c in rng.permutation(n)]
    counts, blobs = bm25.TermCounts(), []
    for column in columns:
        terms = rng.choice(80, size=int(rng.integers(1, 15)), replace=False)
        blob = np.stack([terms, rng.integers(1, 5, size=len(terms))], axis=1).astype("<u4").tobytes()
        blobs.append(blob)
        counts.add(column, blob)
    reference = bm25.impact_order(bm25.bm25_weights(columns, blobs, n))
    built = bm25.impact_ordered_weights(counts, n)
    assert built.shape == reference.shape and len(counts) == n
    assert np.array_equal(built.indptr, reference.indptr)
    assert np.array_equal(built.indices, reference.indices)  # same order: weight, then column
    assert np.array_equal(built.data, reference.data)  # bit for bit: capped reads cut the same postings
    assert built.bm25_stats == pytest.approx(reference.bm25_stats)
    for term in range(built.shape[0]):  # each row by weight, highest first
        row = built.data[built.indptr[term]:built.indptr[term + 1]]
        assert (np.diff(row) <= 0).all()
    assert bm25.impact_ordered_weights(bm25.TermCounts(), 7).shape[1] == 7



def _resident_pages(path: Path) -> int:
    """Pages of ``path`` in the page cache (``mincore`` over a private map of it; nothing is read)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    start = ctypes.c_char.from_buffer(m)
    try:
        assert libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vec) == 0, ctypes.get_errno()
    finally:
        del start
        m.close()
    return sum(v & 1 for v in vec)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this system")
def test_published_files_are_on_disk_and_not_left_in_the_page_cache(make_app, corpus: Path, tmp_path: Path):
    """A fresh write leaves large folios in the page cache, and a reader touching any byte of one
    maps all of it: scattered graph reads then cost hundreds of MB of RSS. The writer drops them."""
    probe = tmp_path / "probe.bin"
    probe.write_bytes(os.urandom(1 << 20))
    fd = os.open(probe, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if _resident_pages(probe):
        pytest.skip("this file system keeps written pages cached whatever the advice (tmpfs)")
    app = make_app(persist_dir=str(tmp_path / "graph"))
    index = app.vector_index(create=True)
    index.arrays_from = index.ann_from = 0
    app.reindex([corpus])
    published = sorted((tmp_path / "graph" / "arrays").iterdir())
    assert any(p.name.endswith(".usearch") for p in published)
    assert {p.name.split(".", 1)[1]: _resident_pages(p) for p in published} == {
        p.name.split(".", 1)[1]: 0 for p in published}
    assert app.retrieve("How long is the warranty on an aluminium frame?", k=1)[0].metadata["source"].endswith("warranty.md")


def test_a_graph_replaces_the_vectors_file_only_when_every_text_has_its_own_key():
    from rag_app.store import ann

    distinct = np.asarray([b"0" * 31 + b"1", b"0" * 15 + b"1" + b"0" * 16, b"f" * 32], dtype="S32")
    assert ann.holds_every_row(distinct)
    clash = np.asarray([b"a" * 16 + b"0" * 16, b"a" * 16 + b"1" * 16, b"b" * 32], dtype="S32")  # first 64 bits equal
    assert not ann.holds_every_row(clash)  # the second text is not in the graph: its row stays in a vectors file
