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


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory):
    from rag_app import RagApp, Settings

    docs = tmp_path_factory.mktemp("repeated")
    # ~2 MB of one log line: about 2,370 chunks of 200 tokens, nearly all identical.
    (docs / "build.log.txt").write_text("INFO build step finished with status OK\n" * 52_000)
    for name, text in SMALL.items():
        (docs / name).write_text(text + "\n")
    app = RagApp(Settings(), persist_dir=str(tmp_path_factory.mktemp("index")), embeddings="minilm", llm="extractive")
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
        assert [d.metadata["score"] for d in top] == pytest.approx(list(oracle), abs=1e-4)
        best = ids[int(np.argmax(scores))]
        assert top[0].id == best
