"""Every loss named: odd encodings, real CSV exports, broken Office files, symlinks, unreadable folders.

Reading is tested directly; what a user sees (warnings, --json, --strict, the summary) through the CLI
on fake embeddings. Facts found with real embeddings are in test_formats.py.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from loaders import Notice, SplitConfig, UnreadableFile, load_chunks, read_file, walk
from loaders.decode import decode
from loaders.section import ReadContext
from office_files import make_docx, make_eml, make_xlsx

pytestmark = pytest.mark.env(RAG_LLM="extractive")

ISSUE_TEXT = "Café crème: the secret espresso blend is called Ferdinandezé ... All mañanas begin with déjà vu."
RUSSIAN = "Секретный рецепт эспрессо называется Фердинанд, и каждое утро начинается с дежавю."


@pytest.mark.parametrize(
    "data, encoding",
    [
        (ISSUE_TEXT.encode("latin-1"), "cp1252"),  # was read as cp1257: "crčme", "mańanas", "déją"
        ("Grüße".encode("latin-1"), "cp1252"),
        ("Price: 5 € — “quoted” and naïve.".encode("cp1252"), "cp1252"),
        (ISSUE_TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: NULs in odd positions
        (ISSUE_TEXT.encode("utf-16-be"), "utf-16-be"),
        (ISSUE_TEXT.encode("utf-32-le"), "utf-32-le"),
        (ISSUE_TEXT.encode("utf-32-be"), "utf-32-be"),
        (ISSUE_TEXT.encode("utf-8"), "utf-8"),
        (RUSSIAN.encode("cp1251"), "cp1251"),  # not Western: the detector's answer stands
    ],
)
def test_short_texts_decode_to_the_right_characters(data: bytes, encoding: str):
    decoded, found = decode(data)
    assert found == encoding and decoded == data.decode(encoding)
    if len(decoded) == len(ISSUE_TEXT):
        assert decoded == ISSUE_TEXT


def test_rag_encoding_forces_one_and_is_recorded(tmp_path: Path):
    path = tmp_path / "dos.txt"
    path.write_bytes("Größe: 3 × 4 m, ½ Preis für Ölwechsel".encode("cp850"))
    assert "3 × 4" not in load_chunks(path, SplitConfig())[0].text  # a guess at short DOS text is off
    forced = load_chunks(path, SplitConfig(text_encoding="cp850"))[0]
    assert forced.text == "Größe: 3 × 4 m, ½ Preis für Ölwechsel" and forced.metadata()["encoding"] == "cp850"
    with pytest.raises(UnreadableFile, match=r"not valid utf-8 \(RAG_ENCODING\) at line 1"):
        load_chunks(path, SplitConfig(text_encoding="utf-8"))


def test_rag_encoding_must_be_a_known_encoding(env, cli, monkeypatch):
    monkeypatch.setenv("RAG_ENCODING", "klingon")
    code, _, err = cli("reindex", str(env))
    assert code == 4 and "RAG_ENCODING must be an encoding Python knows" in err and "Traceback" not in err


def _csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> tuple[list[str], list[int], list[Notice]]:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    ctx = ReadContext()
    [section] = read_file(path, None, ctx)
    return section.text.splitlines(), [section.source_line(i) for i in range(len(section.text.splitlines()))], ctx.notices


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(tmp_path: Path, delim: str):
    text = delim.join(["city", "shop", "phone"]) + "\n" + delim.join(["Köln", "Rad, Ritter", "0221 1234"]) + "\n"
    text = text.replace("Rad, Ritter", '"Rad, Ritter"') if delim == "," else text
    lines, rows, notices = _csv(tmp_path, "shops.csv", text)
    assert lines == ["city: Köln; shop: Rad, Ritter; phone: 0221 1234"] and rows == [2] and notices == []


def test_csv_ragged_rows_are_indexed_and_named(tmp_path: Path):
    lines, rows, notices = _csv(tmp_path, "r.csv", "a,b,c\n1,2,3\n3,4,5,6\n7,8\n")
    assert lines == ["a: 1; b: 2; c: 3", "a: 3; b: 4; c: 5; column 4: 6", "a: 7; b: 8"]
    assert rows == [2, 3, 4]
    assert notices == [
        Notice("4 fields where the header has 3 (too many); indexed as they are", line=3),
        Notice("2 fields where the header has 3 (too few); indexed as they are", line=4),
    ]


def test_csv_unclosed_quote_is_named_not_merged(tmp_path: Path):
    text = 'name,note,price\nA,"broken note,5\nB,fine,6\nC,ok,7\n'
    lines, rows, notices = _csv(tmp_path, "q.csv", text)
    assert rows == [2, 3, 4] and lines[1:] == ["name: B; note: fine; price: 6", "name: C; note: ok; price: 7"]
    assert lines[0] == 'name: A; note: "broken note; price: 5'
    assert notices == [Notice("unclosed quote (never closes); its lines were read one by one", line=2)]
    # A quote that closes rows later, having swallowed whole rows, is named too.
    for end in ('C,"ok",7\n', 'C,"ok,7\n'):
        lines, rows, notices = _csv(tmp_path, "q2.csv", 'name,note,price\nA,"broken note,5\nB,fine,6\n' + end)
        assert rows[:2] == [2, 3] and lines[1] == "name: B; note: fine; price: 6"
        assert notices[0].line == 2 and notices[0].reason.startswith("unclosed quote (")
    # An inch mark is not a quote.
    lines, rows, notices = _csv(tmp_path, "inch.csv", 'part,size\nwheel,28" rim\ntyre,29\n')
    assert lines == ['part: wheel; size: 28" rim', "part: tyre; size: 29"] and notices == []


def test_csv_quoted_newlines_stay_one_record_at_its_first_line(tmp_path: Path):
    text = 'id,comment\n1,"first line\nsecond line"\n2,plain\n'
    lines, rows, notices = _csv(tmp_path, "m.csv", text)
    assert lines == ["id: 1; comment: first line second line", "id: 2; comment: plain"] and rows == [2, 4]
    assert notices == []


def test_csv_without_a_header_keeps_every_row(tmp_path: Path):
    lines, rows, _ = _csv(tmp_path, "n.csv", "1;Köln;12.5\n2;Bonn;7\n", encoding="cp1252")
    assert lines == ["column 1: 1; column 2: Köln; column 3: 12.5", "column 1: 2; column 2: Bonn; column 3: 7"]
    assert rows == [1, 2]


def _ole(marker: bytes) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + marker + b"\x00" * 64


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("locked.docx", _ole("EncryptedPackage".encode("utf-16-le")), "password-protected Word document"),
        ("locked.xlsx", _ole("EncryptedPackage".encode("utf-16-le")), "password-protected Excel workbook"),
        ("old.pptx", _ole(b"PowerPoint Document"), r"old binary PowerPoint file format \(.ppt\)"),
        ("torn.pptx", b"PK\x03\x04 torn off", "corrupt PowerPoint file: not a zip package"),
        ("empty.xlsx", b"", "corrupt Excel workbook"),
        ("bad.ipynb", b'{"cells": 3}', "not a Jupyter notebook"),
        ("bad.epub", b"PK\x05\x06" + b"\x00" * 18, "corrupt EPUB"),
        ("old.xls", _ole(b"Workbook"), r"old binary Excel workbook \(.xls\): save it as .xlsx to index it"),
    ],
)
def test_broken_and_locked_office_files_say_why(tmp_path: Path, name: str, data: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match=reason):
        load_chunks(path, SplitConfig())


def test_a_zip_that_is_not_a_workbook_is_corrupt_not_a_crash(tmp_path: Path):
    path = tmp_path / "fake.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(UnreadableFile, match="corrupt Excel workbook"):
        load_chunks(path, SplitConfig())


def test_a_missing_office_library_names_the_install(tmp_path: Path, monkeypatch):
    import sys

    path = make_docx(tmp_path / "w.docx")
    monkeypatch.setitem(sys.modules, "docx", None)  # what `import docx` sees when it is not installed
    with pytest.raises(UnreadableFile, match=r"need python-docx: pip install 'rag-app\[office\]'"):
        load_chunks(path, SplitConfig())


def test_attachments_and_unsaved_formulas_are_named(tmp_path: Path):
    notices: list[Notice] = []
    load_chunks(make_eml(tmp_path / "m.eml", attachment=True), SplitConfig(), None, notices)
    assert notices == [Notice("attachment invoice.pdf not read (save it next to the mail to index it)")]
    import openpyxl

    path = make_xlsx(tmp_path / "f.xlsx")
    book = openpyxl.load_workbook(path)
    book["Parts"]["D2"] = "=C2*2"
    book.save(path)
    notices = []
    load_chunks(path, SplitConfig(), None, notices)
    assert [n.reason for n in notices] == [
        "sheet Parts: formulas without a saved result (Parts!D2): open and save the file in Excel to index their values"
    ]


# --- the walk: symlinks, loops, unreadable folders ---------------------------------------------

@pytest.fixture
def linked(tmp_path: Path) -> Path:
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    (data / "sub").mkdir(parents=True)
    outside.mkdir()
    (data / "notes.txt").write_text("The workshop opens at eight.\n")
    (outside / "secret.txt").write_text("The safe code is 7781.\n")
    (data / "x.txt").symlink_to(outside / "secret.txt")
    (data / "elsewhere").symlink_to(outside)
    (data / "loop.txt").symlink_to("loop.txt")
    (data / "sub" / "up").symlink_to("..")
    (data / "alias.txt").symlink_to("notes.txt")  # inside: fine
    return data


def test_links_out_of_the_folder_are_skipped_and_loops_named(linked: Path):
    skipped: list[tuple[Path, str]] = []
    found = [f.path.name for f in walk([linked], skipped=skipped)]
    assert found == ["alias.txt", "notes.txt"]
    reasons = {p.relative_to(linked).as_posix(): r for p, r in skipped}
    outside = str(linked.parent / "elsewhere")
    assert reasons["x.txt"] == f"link outside the folders being indexed (to {outside}/secret.txt); --follow-links indexes it"
    assert reasons["elsewhere"].startswith(f"link outside the folders being indexed (to {outside})")
    assert reasons["loop.txt"] == "symlink loop (loop.txt -> loop.txt)"
    assert reasons["sub/up"].startswith("symlink loop (sub/up -> ")
    following: list[tuple[Path, str]] = []
    found = [f.path.relative_to(linked).as_posix() for f in walk([linked], skipped=following, follow_links=True)]
    assert found == ["alias.txt", "elsewhere/secret.txt", "notes.txt", "x.txt"]
    assert {p.name for p, _ in following} == {"loop.txt", "up"}


def test_reindex_names_links_outside_data_and_follow_links_opts_in(env, linked: Path, cli):
    code, out, err = cli("reindex", str(linked), "--json")
    report = json.loads(out)
    assert code == 0 and report["files_indexed"] == 2
    [line] = [x for x in err.splitlines() if "links outside" in x]
    assert line.startswith("warning: links outside DATA (the folders being indexed) skipped: ")
    assert str(linked / "x.txt") in line and str(linked / "elsewhere") in line and "--follow-links" in line
    assert f"warning: skipped {linked / 'loop.txt'}: symlink loop" in err and "dangling" not in err
    code, out, _ = cli("query", "What is the safe code?", "--json")
    assert "7781" not in out
    code, out, err = cli("reindex", str(linked), "--follow-links", "--json")
    assert json.loads(out)["files_indexed"] == 4 and "links outside" not in err
    code, out, _ = cli("query", "What is the safe code?", "--json")
    assert "7781" in out


def test_an_unreadable_folder_is_warned_and_fails_strict(env, tmp_path: Path, cli, monkeypatch):
    data = tmp_path / "docs"
    (data / "private").mkdir(parents=True)
    (data / "readme.txt").write_text("Ask the front desk for the bike key.\n")
    (data / "private" / "pay.txt").write_text("Salaries.\n")
    if os.geteuid() == 0:  # root reads every folder: make listing this one fail as it does for a user
        real_scandir = os.scandir

        def scandir(path: object = ".") -> object:
            if str(path) == str(data / "private"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        (data / "private").chmod(0)
    try:
        code, out, err = cli("reindex", str(data), "--strict")
    finally:
        (data / "private").chmod(0o755)
    assert code == 5
    assert f"warning: skipped {data / 'private'}: cannot read directory: Permission denied" in err
    assert out.startswith("Indexed 1 file (1 new or changed, 0 unchanged; 1 skipped):")


def test_summary_counts_files_indexed_skipped_and_warned(env, tmp_path: Path, cli):
    data = tmp_path / "mixed"
    data.mkdir()
    for i in range(3):
        (data / f"good{i}.md").write_text(f"# Note {i}\n\nBike number {i} is blue.\n")
    (data / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (data / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (data / "empty.txt").write_text("  \n")
    code, out, err = cli("reindex", str(data))
    assert code == 0
    assert out.startswith("Indexed 4 files (4 new or changed, 0 unchanged; 2 skipped, 1 with warnings): ")
    assert f"warning: {data / 'ragged.csv'} line 3: 3 fields where the header has 2 (too many)" in err
    report = cli.json("reindex", str(data), "--json")
    assert (report["files"], report["files_indexed"], report["files_unchanged"]) == (6, 4, 4)
    assert [Path(s["source"]).name for s in report["skipped"]] == ["broken.pdf", "empty.txt"]
    assert report["warnings"] == []  # warnings come with reading; an unchanged file is not read again
    (data / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n6,7\n")
    report = cli.json("reindex", str(data), "--json")
    assert report["warnings"] == [{
        "source": str(data / "ragged.csv"), "reason": "3 fields where the header has 2 (too many); indexed as they are",
        "line": 3, "page": None,
    }]
    (data / "broken.pdf").unlink()
    (data / "empty.txt").unlink()
    for i in (1, 2):
        (data / f"good{i}.md").unlink()
    (data / "ragged.csv").unlink()
    code, out, _ = cli("reindex", str(data))
    assert out.startswith("Indexed 1 file (0 new or changed, 1 unchanged; 0 skipped): 0 chunks written")


def test_sheet_rows_are_the_numbers_excel_shows(tmp_path: Path):
    """A title in B1, a table drawn from B3 with a blank row inside: the header is found, rows cited as 1, 4, 6."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Q1"
    cells = {"B1": "Stock count, March", "B3": "Name", "C3": "Qty", "B4": "Saddle", "C4": 5, "B6": "Bell", "C6": 7}
    for ref, value in cells.items():
        sheet[ref] = value
    book.save(tmp_path / "t.xlsx")
    [chunk] = load_chunks(tmp_path / "t.xlsx", SplitConfig())
    assert chunk.text == "B: Stock count, March\nName: Saddle; Qty: 5\nName: Bell; Qty: 7"
    assert (chunk.start_line, chunk.end_line, chunk.headings) == (1, 6, "Q1")
    from loaders import location_of

    assert location_of(chunk.metadata()).endswith("t.xlsx Q1!1:6")


def test_thousands_of_ragged_rows_are_named_once_each_up_to_a_limit(tmp_path: Path):
    text = "a,b\n" + "".join(f"{i},{i},{i}\n" for i in range(1000))
    lines, rows, notices = _csv(tmp_path, "wide.csv", text)
    assert len(lines) == 1000 and rows[0] == 2 and rows[-1] == 1001
    assert [n.line for n in notices[:20]] == list(range(2, 22))
    assert notices[20:] == [Notice("980 more rows with a different number of fields (lines 22-1001); indexed as they are", line=22)]


def test_setting_rag_encoding_rereads_the_files_with_it(env, tmp_path: Path, cli, monkeypatch):
    data = tmp_path / "dos"
    data.mkdir()
    (data / "prices.txt").write_bytes("Größe: 3 × 4 m, ½ Preis für Ölwechsel in Köln\n".encode("cp850"))
    first = cli.json("reindex", str(data), "--json")
    assert first["files_indexed"] == 1
    out = cli.json("query", "Ölwechsel Preis", "--json")
    assert "3 × 4 m" not in out["sources"][0]["text"]  # a guess at short DOS text gets the × wrong
    monkeypatch.setenv("RAG_ENCODING", "cp850")
    again = cli.json("reindex", str(data), "--json")
    assert again["files_unchanged"] == 0 and again["files_read"] == 1  # the forced encoding re-reads every file
    out = cli.json("query", "Ölwechsel Preis", "--json")
    assert out["sources"][0]["text"] == "Größe: 3 × 4 m, ½ Preis für Ölwechsel in Köln"
