from __future__ import annotations

from pathlib import Path

import pytest

from loaders import DEFAULT_EXCLUDE, SplitConfig, UnreadableFile, load_chunks, read_file, walk
from loaders.splitter import markdown_sections
from loaders.tokens import count_tokens

from helpers import DATA


def test_every_sample_file_loads_with_a_citable_position():
    for path in sorted(DATA.iterdir()):
        chunks = load_chunks(path, SplitConfig())
        assert chunks, path
        for chunk in chunks:
            assert chunk.page is not None or (chunk.start_line and chunk.end_line >= chunk.start_line)


def test_line_spans_point_at_the_right_lines():
    chunks = load_chunks(DATA / "warranty.md", SplitConfig(chunk_size=60, chunk_overlap=0))
    lines = (DATA / "warranty.md").read_text().splitlines()
    frame = next(c for c in chunks if "10 years" in c.text)
    span = "\n".join(lines[frame.start_line - 1 : frame.end_line])
    assert "10 years" in span
    assert frame.headings == "Northwind Bikes warranty policy > What is covered > Frame and fork"


def test_pdf_pages_html_csv_and_json_records_keep_their_place():
    pdf = load_chunks(DATA / "e-commuter-quickstart.pdf", SplitConfig())
    assert {c.page for c in pdf} == {1, 2}
    assert any("E01" in c.text and c.page == 2 for c in pdf)
    html = read_file(DATA / "faq.html")[0]
    assert "console.log" not in html.text and "font-family" not in html.text
    lines = (DATA / "faq.html").read_text().splitlines()
    for i, text_line in enumerate(html.text.splitlines()):
        assert text_line.split()[0] in lines[html.source_line(i) - 1]
    csv = read_file(DATA / "service_centres.csv")[0]
    assert csv.text.splitlines()[1].startswith("city: Utrecht") and csv.source_line(1) == 3
    records = read_file(DATA / "models.json")[0]
    assert records.text.splitlines()[2].startswith("model: Aero C") and records.source_line(2) == 4


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"  \n", "empty"),
        ("blob.txt", b"abc\x00\x01\x02", "binary"),
        ("undecodable.txt", bytes(range(0x80, 0x100)) * 3, "encoding|binary"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "PDF"),
        ("fake.pdf", b"hello", "not a PDF"),
        ("bad.json", b"{\"a\": ", "invalid JSON"),
        ("bad.jsonl", b"{\"a\": 1}\nnope\n", "line 2"),
        ("image.png", b"\x89PNG", "unsupported"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, name: str, data: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match=reason):
        load_chunks(path, SplitConfig())


def test_chunks_respect_the_token_budget_and_ids_are_stable():
    text = "\n\n".join(f"Paragraph {i}. " + "The quick brown fox jumps over the lazy dog. " * 12 for i in range(20))
    path_a = Path("/virtual/a.txt")
    from loaders import Section, split_sections

    config = SplitConfig(chunk_size=64, chunk_overlap=8)
    first = split_sections(str(path_a), [Section(text)], config)
    again = split_sections(str(path_a), [Section(text)], config)
    assert [c.id for c in first] == [c.id for c in again]
    assert all(count_tokens(c.text) <= 64 for c in first)
    other = split_sections("/virtual/b.txt", [Section(text)], config)
    assert not {c.id for c in first} & {c.id for c in other}


def test_repeated_text_in_one_file_gets_distinct_ids():
    from loaders import Section, split_sections

    para = "This exact paragraph appears twice in the same file, word for word."
    text = f"{para}\n\nSomething else entirely sits between the two copies here.\n\n{para}"
    chunks = split_sections("/v.txt", [Section(text)], SplitConfig(chunk_size=16, chunk_overlap=0))
    same = [c for c in chunks if c.text == para]
    assert len(same) == 2 and same[0].id != same[1].id


def test_markdown_headings_ignore_code_fences():
    text = "# A\nintro\n```\n# not a heading\n```\n## B\nbody\n"
    sections = markdown_sections(text)
    assert [(first, path) for first, path, _ in sections] == [(0, "A"), (5, "A > B")]


def test_walk_applies_globs_and_skips_hidden(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# a")
    (tmp_path / "docs" / "b.txt").write_text("b")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.md").write_text("c")
    (tmp_path / "notes.bin").write_text("x")
    names = [f.path.name for f in walk([tmp_path])]
    assert names == ["a.md", "b.txt"]
    assert [f.path.name for f in walk([tmp_path], include=["*.md"])] == ["a.md"]
    assert [f.path.name for f in walk([tmp_path], exclude=[*DEFAULT_EXCLUDE, "docs/b.*"])] == ["a.md"]


# --- what users have: legacy encodings, broken PDFs, odd directory entries ------------------------

@pytest.mark.parametrize(
    "name, data, text, encoding",
    [
        ("latin1.md", "# Menu\n\nCafé au lait and crème brûlée, served à la carte.\n".encode("latin-1"),
         "Café au lait and crème brûlée", "cp1252"),
        ("windows.txt", "Price: 5 € — “quoted” and naïve.\n".encode("cp1252"), "5 € — “quoted” and naïve", "cp1252"),
        ("utf16.txt", "Ärger über Öl: Grüße aus München.\n".encode("utf-16"), "Grüße aus München", "utf-16"),
        ("utf16.csv", "city,note\nKöln,Dom\n".encode("utf-16"), "city: Köln; note: Dom", "utf-16"),
        ("utf8bom.md", "\ufeffPlain UTF-8 with a BOM: déjà vu.\n".encode("utf-8"), "déjà vu", None),
    ],
)
def test_legacy_encodings_are_read_and_recorded(tmp_path: Path, name: str, data: bytes, text: str, encoding):
    path = tmp_path / name
    path.write_bytes(data)
    chunks = load_chunks(path, SplitConfig())
    assert text in chunks[0].text and "\ufeff" not in chunks[0].text
    assert chunks[0].metadata().get("encoding") == encoding  # recorded only when not UTF-8


def test_pdf_library_warnings_go_into_the_skip_reason_not_stderr(tmp_path: Path, capfd):
    path = tmp_path / "truncated.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n")
    with pytest.raises(UnreadableFile, match=r"corrupt PDF.*\(pypdf: EOF marker not found\)"):
        load_chunks(path, SplitConfig())
    out, err = capfd.readouterr()
    assert out == err == ""


def test_reindex_names_dangling_links_fifos_and_unreadable_files(make_app, tmp_path: Path, capfd):
    import os

    docs = tmp_path / "odd"
    docs.mkdir()
    (docs / "good.txt").write_text("A readable file about bicycles.\n")
    (docs / "gone.md").symlink_to(tmp_path / "nowhere.md")
    os.mkfifo(docs / "pipe.txt")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really\n")
    locked = docs / "locked.txt"
    locked.write_text("secret\n")
    locked.chmod(0)
    root = os.geteuid() == 0  # root reads anything: the permission case cannot happen
    report = make_app().reindex([docs])
    reasons = {os.path.basename(s.source): s.reason for s in report.skipped}
    assert reasons["gone.md"].startswith("dangling symlink to ") and reasons["gone.md"].endswith("nowhere.md")
    assert reasons["pipe.txt"].startswith("not a regular file")
    assert "pypdf: EOF marker not found" in reasons["broken.pdf"]
    assert ("locked.txt" in reasons) != root and (root or "permission denied" in reasons["locked.txt"])
    assert report.chunks == (2 if root else 1)
    assert capfd.readouterr().err == ""
