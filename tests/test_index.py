"""The index against a real embedded Chroma, with deterministic fake embeddings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_app import IndexMismatch, IndexMissing


def _ids(app) -> set[str]:
    return set(app.vector_index().collection().get(include=[])["ids"])


def test_reindex_twice_changes_nothing_and_embeds_nothing(make_app, corpus: Path):
    app = make_app()
    first = app.reindex([corpus])
    assert first.files == 6 and first.added == first.chunks > 0 and not first.skipped
    embedded = app.embedder.embedded_texts
    second = app.reindex([corpus])
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.unchanged == first.chunks == second.chunks
    assert second.files_read == 0
    assert app.embedder.embedded_texts == embedded


def test_verify_rereads_but_does_not_reembed(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    embedded = app.embedder.embedded_texts
    report = app.reindex([corpus], verify=True)
    assert report.files_read == 6 and report.unchanged == report.chunks
    assert app.embedder.embedded_texts == embedded


def test_editing_one_paragraph_reembeds_about_one_chunk(make_app, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Paragraph {i} talks about topic number {i} in some detail. " * 4 for i in range(30)]
    (docs / "long.txt").write_text("\n\n".join(paragraphs))
    app = make_app(chunk_size=80, chunk_overlap=0)
    full = app.reindex([docs])
    embedded = app.embedder.embedded_texts
    paragraphs[17] = paragraphs[17].replace("some detail", "much greater detail")
    (docs / "long.txt").write_text("\n\n".join(paragraphs))
    edit = app.reindex([docs])
    assert edit.updated == 1 and edit.added == 0 and edit.deleted == 0
    assert app.embedder.embedded_texts - embedded == 1
    assert edit.chunks == full.chunks


def test_inserting_lines_moves_citations_without_reembedding(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    path = corpus / "maintenance.txt"
    before = {d.page_content: d.metadata["start_line"] for d in app.retrieve("chain oil", k=20) if d.metadata["source"] == str(path)}
    path.write_text("NEW FIRST LINE\n\n" + path.read_text())
    embedded = app.embedder.embedded_texts
    report = app.reindex([corpus])
    after = {d.page_content: d.metadata["start_line"] for d in app.retrieve("chain oil", k=20) if d.metadata["source"] == str(path)}
    moved = [text for text in before if text in after]
    assert moved and all(after[t] == before[t] + 2 for t in moved)
    assert app.embedder.embedded_texts - embedded == report.added + report.updated


def test_deleted_and_renamed_files_leave_no_orphans(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    (corpus / "faq.html").unlink()
    (corpus / "warranty.md").rename(corpus / "guarantee.md")
    report = app.reindex([corpus])
    sources = {m["source"] for m in app.vector_index().collection().get(include=["metadatas"])["metadatas"]}
    assert str(corpus / "faq.html") not in sources and str(corpus / "warranty.md") not in sources
    assert str(corpus / "guarantee.md") in sources
    assert report.deleted > 0 and report.added > 0
    fresh = make_app(persist_dir=str(corpus.parent / "fresh"))
    fresh.reindex([corpus])
    assert _ids(app) == _ids(fresh)


def test_bad_files_are_skipped_and_the_rest_indexed(make_app, corpus: Path):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    (corpus / "blob.txt").write_bytes(b"\x00\x01binary")
    (corpus / "empty.md").write_text("")
    report = make_app().reindex([corpus])
    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.pdf", "blob.txt", "empty.md"}
    assert report.chunks > 0 and report.files == 9


def test_a_file_that_turns_bad_keeps_its_chunks_with_a_warning(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    before = {i for i, m in zip(*_ids_and_metadatas(app)) if m["source"] == str(corpus / "models.json")}
    (corpus / "models.json").write_text("{ not json")  # e.g. half-written by an editor
    report = app.reindex([corpus])
    assert [Path(s.source).name for s in report.skipped] == ["models.json"]
    assert f"kept its {len(before)} chunks" in report.skipped[0].reason
    assert before and before <= set(_ids_and_metadatas(app)[0])
    assert app.retrieve("bike frame gears", k=2, where="source:*models.json")  # still answers from it
    (corpus / "models.json").unlink()  # gone for good: its chunks go too
    app.reindex([corpus])
    assert not before & set(_ids_and_metadatas(app)[0])


def _ids_and_metadatas(app) -> tuple[list[str], list[dict]]:
    got = app.vector_index().collection().get(include=["metadatas"])
    return got["ids"], got["metadatas"]


def test_a_crash_between_write_and_record_is_repaired(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    # Simulate a crash after chunks were written but before records were saved:
    # the records say "dirty" and know nothing of the new file.
    (corpus / "extra.txt").write_text("Brand new text about saddles and bells.")
    index = app.vector_index()
    index.records.mark_dirty(index.name, [str(corpus / "maintenance.txt")])
    report = app.reindex([corpus])
    assert report.added >= 1 and report.deleted == 0
    fresh = make_app(persist_dir=str(corpus.parent / "fresh"))
    fresh.reindex([corpus])
    assert _ids(app) == _ids(fresh)


def test_query_before_reindex_says_what_to_do(make_app):
    with pytest.raises(IndexMissing, match="rag-app reindex"):
        make_app().query("anything")


def test_other_embeddings_or_chunking_need_a_rebuild(make_app, corpus: Path, tmp_path: Path):
    make_app().reindex([corpus])
    with pytest.raises(IndexMismatch, match="--rebuild"):
        make_app(embeddings="fake:32").query("warranty")
    with pytest.raises(IndexMismatch, match="chunk_size"):
        make_app(chunk_size=100).reindex([corpus])


def test_dry_run_writes_nothing(make_app, corpus: Path):
    app = make_app()
    plan = app.reindex([corpus], dry_run=True)
    assert plan.added > 0 and plan.tokens_to_embed > 0 and app.embedder.embedded_texts == 0
    assert app.reindex([corpus]).added == plan.added


def test_retrieval_scores_rank_the_matching_chunk_first(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    docs = app.retrieve("error codes E01 E02 E03 battery motor display", k=3)
    assert docs[0].metadata["page"] == 2
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_a_new_loader_version_rereads_files_but_reembeds_nothing_unchanged(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    index = app.vector_index()
    index.records.connection.execute("UPDATE files SET file_hash = '0:' || substr(file_hash, 3)")
    embedded = app.embedder.embedded_texts
    report = app.reindex([corpus])
    assert report.files_read == 6 and report.added == report.updated == 0
    assert app.embedder.embedded_texts == embedded
    assert app.reindex([corpus]).files_read == 0


def test_a_reindex_in_small_groups_builds_the_same_index(make_app, corpus: Path):
    small = make_app()
    small.vector_index(create=True).group_chunks = 2  # commit every file or two
    report = small.reindex([corpus])
    whole = make_app(persist_dir=str(corpus.parent / "whole"))
    expected = whole.reindex([corpus])
    assert _ids(small) == _ids(whole) and (report.added, report.chunks, report.files_read) == (
        expected.added, expected.chunks, expected.files_read)
    question = "How long does a full charge take?"
    assert [d.id for d in small.retrieve(question, k=4)] == [d.id for d in whole.retrieve(question, k=4)]
