"""Recall that holds: thousands of identical chunks must not hide the rest of the collection.

With about 2,000 identical vectors in a Chroma collection, its HNSW graph stops finding
anything else. Search runs exactly over one vector per distinct text instead; these
tests check it against a brute-force oracle over every vector Chroma holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SMALL = {
    "bees.txt": "Honey bees communicate the direction of flowers to their hive mates with a waggle dance.",
    "volcano.txt": "Basaltic lava from shield volcanoes flows for many kilometres because it has low viscosity.",
    "tax.txt": "Self-employed workers must file their quarterly estimated tax payments by the fifteenth of the month.",
    "chess.txt": "In chess, castling moves the king two squares towards a rook and places the rook beside it.",
}
QUESTIONS = {
    "bees.txt": "How do bees tell each other where flowers are?",
    "volcano.txt": "Why does lava from shield volcanoes travel so far?",
    "tax.txt": "When are quarterly estimated taxes due for freelancers?",
    "chess.txt": "How does castling work in chess?",
}


@pytest.fixture(scope="module", params=["exact", "graph"])
def repeated(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """The corpus indexed twice: searched exactly, and through the HNSW graph large collections publish."""
    from rag_app import RagApp, Settings

    docs = tmp_path_factory.mktemp("repeated")
    # ~2 MB of one log line: about 2,370 chunks of 200 tokens, nearly all identical.
    (docs / "build.log.txt").write_text("INFO build step finished with status OK\n" * 52_000)
    for name, text in SMALL.items():
        (docs / name).write_text(text + "\n")
    app = RagApp(Settings(), persist_dir=str(tmp_path_factory.mktemp("index")), embeddings="minilm", llm="extractive")
    if request.param == "graph":
        index = app.vector_index(create=True)
        index.arrays_from = index.ann_from = 0  # as from ANN_FROM distinct texts
    report = app.reindex([docs])
    yield app, report
    app.close()


@pytest.mark.slow
def test_repeated_chunks_are_embedded_and_stored_once_per_text(repeated):
    app, report = repeated
    assert report.chunks > 2000
    collection = app.vector_index().collection()
    texts = collection.get(include=["documents"])["documents"]
    distinct = len(set(texts))
    assert distinct < 50  # the log file is one text repeated
    assert report.embedded == report.chunks  # every chunk was written to Chroma ...
    assert app.embedder.embedded_texts == distinct  # ... but each distinct text embedded once
    hashes, matrix = app.vector_index().records.chunks.matrix(collection.name)
    assert len(hashes) == distinct == matrix.shape[0]


@pytest.mark.slow
@pytest.mark.parametrize("search", ["vector", "hybrid", "mmr"])
def test_every_small_file_is_found_first_despite_the_repetition(repeated, search: str):
    app, _ = repeated
    for name, question in QUESTIONS.items():
        top = app.retrieve(question, k=4, mmr=search == "mmr", hybrid=search == "hybrid") if search != "vector" else app.retrieve(question, k=4, hybrid=False)
        assert Path(top[0].metadata["source"]).name == name, (search, question, [d.metadata["source"] for d in top])


@pytest.mark.slow
def test_vector_search_equals_a_brute_force_oracle(repeated):
    app, _ = repeated
    got = app.vector_index().collection().get(include=["embeddings", "documents"])
    ids, vectors = got["ids"], np.asarray(got["embeddings"], dtype=np.float32)
    for question in QUESTIONS.values():
        q = np.asarray(app.embedder.embed_query(question), dtype=np.float32)
        scores = vectors @ q
        top = app.retrieve(question, k=6, hybrid=False)
        # The oracle's best scores, in order, are what search returned (ties among copies of one text aside).
        oracle = np.sort(scores)[::-1][: len(top)]
        graph = app.vector_index().ann_from == 0  # the graph's candidates are rescored from int8 rows
        assert [d.metadata["score"] for d in top] == pytest.approx(list(oracle), abs=5e-3 if graph else 1e-4)
        best = ids[int(np.argmax(scores))]
        assert top[0].id == best
    assert (app.searcher.loaded.graph is not None) == (app.vector_index().ann_from == 0)


@pytest.mark.slow
def test_the_hnsw_graph_finds_what_exact_search_finds_with_the_real_model(tmp_path: Path):
    """Recall@4 of the published graph (candidates rescored) against the exact scan of the same rows."""
    import itertools

    from rag_app.embeddings import embedder_for
    from rag_app.settings import Settings
    from rag_app.store import ann
    from loaders.splitter import content_hash
    from rag_app.store.arrays import quantize

    who = ["The mayor", "A nurse", "The pilot", "Our chemist", "The farmer", "A student", "The judge", "A baker",
           "The sailor", "A painter", "The coach", "An engineer"]
    did = ["repaired", "painted", "sold", "measured", "photographed", "cleaned", "designed", "inspected",
           "borrowed", "described"]
    what = ["a wooden bridge", "the old lighthouse", "a red bicycle", "the town clock", "a glass greenhouse",
            "the river dam", "a stone wall", "the school roof", "a copper kettle", "the train station"]
    when = ["in spring", "after the storm", "before dawn", "during the festival", "last winter"]
    texts = sorted(f"{a} {b} {c} {d}." for a, b, c, d in itertools.product(who, did, what, when))  # 6,000
    hashes = np.asarray([content_hash(t).encode() for t in texts], dtype="S32")
    order = np.argsort(hashes)  # rows sorted by content hash, as the writer publishes them
    texts, hashes = [texts[i] for i in order], hashes[order]
    embedder = embedder_for(Settings(embeddings="minilm"))
    vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
    codes, scales = quantize(vectors)
    assert ann.build(codes[:5000], hashes[:5000], tmp_path / "first.usearch") == "built"
    # the next stamp: 1,000 texts come, 200 go; the graph is updated, not rebuilt
    keep = np.r_[np.arange(200, 6000)]
    codes, scales, vectors, hashes = codes[keep], scales[keep], vectors[keep], hashes[keep]
    assert ann.build(codes, hashes, tmp_path / "graph.usearch", previous=tmp_path / "first.usearch") == "updated"
    graph = ann.load(tmp_path / "graph.usearch", hashes)
    assert len(graph) == len(hashes)
    rng = np.random.default_rng(0)
    questions = [f"Who {b} {c}?" for b, c in itertools.product(did, what)]
    questions = [questions[i] for i in rng.choice(len(questions), 60, replace=False)]
    rows_f32 = codes.astype(np.float32) * scales[:, None]  # the exact scan's int8 rows
    hits = 0
    for q in np.asarray(embedder.embed_documents(questions), dtype=np.float32):
        exact = rows_f32 @ q
        kth = np.sort(exact)[-4]
        rows = graph.nearest(q, 32)
        best = rows[np.argsort(-(rows_f32[rows] @ q))[:4]]
        hits += int(np.sum(exact[best] >= kth - 1e-6))  # an equal score counts as found
    assert hits / (4 * len(questions)) >= 0.98
