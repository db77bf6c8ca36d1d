"""Property: any sequence of file changes + reindex equals a fresh index of the final tree."""

from __future__ import annotations

import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_app import RagApp, Settings

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()

paragraph = st.lists(st.sampled_from(WORDS), min_size=3, max_size=12).map(lambda ws: " ".join(ws) + ".")
document = st.lists(paragraph, min_size=1, max_size=6)
name = st.sampled_from(["a.txt", "b.md", "c.txt", "sub/d.txt", "sub/e.md"])
operation = st.one_of(
    st.tuples(st.just("write"), name, document),
    st.tuples(st.just("delete"), name, st.just([])),
    st.tuples(st.just("rename"), name, st.just([])),
    st.tuples(st.just("edit"), name, paragraph.map(lambda p: [p])),
)


def apply(root: Path, op: tuple[str, str, list[str]]) -> None:
    kind, rel, paras = op
    path = root / rel
    if kind == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paras))
    elif kind == "delete" and path.exists():
        path.unlink()
    elif kind == "rename" and path.exists():
        path.rename(path.with_name("renamed-" + path.name))
    elif kind == "edit" and path.exists():
        parts = path.read_text().split("\n\n")
        parts[len(parts) // 2] = paras[0]
        path.write_text("\n\n".join(parts))


def snapshot(app: RagApp) -> dict[str, tuple]:
    got = app.vector_index().collection().get(include=["metadatas", "documents"])
    return {
        i: (m["source"], m.get("start_line"), m.get("end_line"), d)
        for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.lists(operation, min_size=1, max_size=4), min_size=1, max_size=4))
def test_incremental_equals_fresh(tmp_path: Path, steps):
    # Chroma caches clients per path in-process: every example gets fresh paths.
    work = tmp_path / uuid.uuid4().hex
    tree = work / "tree"
    tree.mkdir(parents=True)
    (tree / "base.txt").write_text("kilo lima mike.\n\nalpha bravo charlie.")
    app = RagApp(Settings(), persist_dir=str(work / "inc"), embeddings="fake", chunk_size=16, chunk_overlap=0)
    try:
        app.reindex([tree])
        ever = {v[3] for v in snapshot(app).values()}  # every text this index has embedded
        for batch in steps:
            for op in batch:
                apply(tree, op)
            before = set(snapshot(app))
            embedded = app.embedder.embedded_texts
            app.reindex([tree])
            after = snapshot(app)
            # Only texts never embedded before were embedded, each once (the embedding cache).
            new_texts = {after[i][3] for i in set(after) - before} - ever
            assert app.embedder.embedded_texts - embedded == len(new_texts)
            ever |= {v[3] for v in after.values()}
            fresh = RagApp(Settings(), persist_dir=str(work / uuid.uuid4().hex), embeddings="fake", chunk_size=16, chunk_overlap=0)
            try:
                fresh.reindex([tree])
                assert after == snapshot(fresh)
            finally:
                fresh.close()
    finally:
        app.close()
