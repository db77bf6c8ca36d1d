"""Every format and encoding a team's folder holds: a fact from each, found through `rag-app query`.

Real parts: the shipped MiniLM embeddings, Chroma on disk, the CLI in a child process (a cold
start, as a user runs it). The files are generated here with the libraries that read them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import sealed_environ
from office_files import (
    make_docx, make_eml, make_epub, make_ipynb, make_odt, make_pptx, make_scanned_pdf, make_xlsx,
)

pytestmark = pytest.mark.slow

HAS_TESSERACT = shutil.which("tesseract") is not None
LATIN1 = "Café crème: the secret espresso blend is called Ferdinandezé. All mañanas begin with déjà vu.\n"

#: (question, file, location the top source must have, characters its text must hold)
FACTS = [
    ("What is the inspection fee for a crash-damaged frame?", "report.docx",
     "report.docx § Warranty policy > Fees ¶", "45 euros, paid at the café counter"),
    ("Where is the Touring battery made?", "deck.pptx", "deck.pptx slide 2", "Kraków by Szczęsny Energia"),
    ("Who supplies the brake pads?", "parts.xlsx", "parts.xlsx Parts!", "Supplier: Ærø Cykler"),
    ("How many pallets are in the warehouse in Łódź?", "parts.xlsx", "parts.xlsx 'Stock 2026'!", "Warehouse: Łódź; Pallets: 17"),
    ("When does the workshop close on Sinterklaas day?", "hours.odt",
     "hours.odt § Opening hours > Holidays ¶", "closes at noon; Ændrea"),
    ("What was the lighthouse keeper called?", "book.epub", "book.epub ch.2", "Øystein Brekke"),
    ("Which depot has the most bikes?", "fleet.ipynb", "fleet.ipynb cell 3", "Nordhafen Süd"),
    ("When do the cargo frames arrive?", "delivery.eml", "delivery.eml:", "arrive on Thursday at dock 7"),
    ("What is the secret espresso blend called?", "menu.txt", "menu.txt:1", "crème: the secret espresso blend is called Ferdinandezé. All mañanas begin with déjà vu"),
    ("Where do greetings from Munich come from?", "gruss.txt", "gruss.txt:1", "Grüße aus München"),
    ("Which Händler in Köln sells the Cargo model?", "dealers.csv", "dealers.csv:2-3", "Händler: Fahrräder Köhler"),
    ("What colour is the tandem?", "colours.tsv", "colours.tsv:2-3", "model: Tandem Duo; colour: smaragdgrün"),
    ("Where is the spare key kept?", "scan.pdf", "scan.pdf p.1", "locker 42"),
    ("What does the kiosk at Plaça de Catalunya sell?", "kiosk.txt", "kiosk.txt:1", "sells the Niño trailer"),
    ("When does the Tromsø shop open?", "bom.md", "bom.md:1-3", "The Tromsø shop opens at ten"),
    ("What is the shop with code MSK-77 called?", "moscow.txt", "moscow.txt:1", "называется Велосипед-Центр"),
]


def _cli(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag_app", *argv], capture_output=True, text=True, cwd=cwd, timeout=600,
        env=sealed_environ(cwd.parent / "home", **env),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    docs = root / "docs"
    docs.mkdir()
    make_docx(docs / "report.docx")
    make_pptx(docs / "deck.pptx")
    make_xlsx(docs / "parts.xlsx")
    make_odt(docs / "hours.odt")
    make_epub(docs / "book.epub")
    make_ipynb(docs / "fleet.ipynb")
    make_eml(docs / "delivery.eml")
    make_scanned_pdf(docs / "scan.pdf")
    (docs / "menu.txt").write_bytes(LATIN1.encode("latin-1"))
    (docs / "gruss.txt").write_bytes("Herzliche Grüße aus München vom Radverleih.\n".encode("utf-16-le"))
    (docs / "dealers.csv").write_bytes("Stadt;Händler;Modell\nBerlin;Rad & Tat;City\nKöln;Fahrräder Köhler;Cargo\n".encode("cp1252"))
    (docs / "kiosk.txt").write_bytes("The kiosk at Plaça de Catalunya sells the Niño trailer.\n".encode("utf-32-be"))
    (docs / "bom.md").write_bytes("# Opening\n\nThe Tromsø shop opens at ten.\n".encode("utf-16"))  # with its BOM
    (docs / "moscow.txt").write_bytes("Магазин в Москве (shop code MSK-77) называется Велосипед-Центр.\n".encode("cp1251"))
    (docs / "colours.tsv").write_text("model\tcolour\nAero C\tsignal red\nTandem Duo\tsmaragdgrün\n", encoding="utf-8")
    (root / "work").mkdir()
    (root / "work" / ".env").write_text(f"RAG_PERSIST_DIR={root / 'index'}\nRAG_LLM=extractive\n")
    return root


@pytest.fixture(scope="module")
def indexed(folder: Path) -> dict:
    run = _cli("reindex", str(folder / "docs"), "--json", cwd=folder / "work")
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_every_format_is_indexed_and_the_counts_are_true(indexed: dict):
    expected_skips = [] if HAS_TESSERACT else ["scan.pdf"]
    assert sorted(Path(s["source"]).name for s in indexed["skipped"]) == expected_skips
    assert indexed["files"] == 15 and indexed["files_indexed"] == 15 - len(expected_skips)
    assert indexed["warnings"] == []


@pytest.fixture(scope="module")
def answers(folder: Path, indexed: dict) -> dict[str, dict]:
    questions = folder / "questions.txt"
    questions.write_text("".join(q + "\n" for q, *_ in FACTS), encoding="utf-8")
    run = _cli("query", "--questions", str(questions), "--json", cwd=folder / "work")
    assert run.returncode == 0, run.stderr[-3000:]
    return {a["question"]: a for a in map(json.loads, run.stdout.splitlines())}


@pytest.mark.parametrize("question, name, where, text", FACTS, ids=[f[1] + ":" + f[3][:12] for f in FACTS])
def test_a_fact_from_each_format_is_found_with_its_characters_and_location(
    answers: dict[str, dict], question: str, name: str, where: str, text: str
):
    if name == "scan.pdf" and not HAS_TESSERACT:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr): the OCR path cannot run here")
    answer = answers[question]
    top = answer["sources"][0]
    assert Path(top["source"]).name == name, [s["location"] for s in answer["sources"]]
    assert where in top["location"], top["location"]
    assert text in " ".join(top["text"].split())


def test_support_citations_point_at_the_paragraph_row_and_slide(answers: dict[str, dict]):
    """The cited sentence's own place, not just its chunk's: ¶4 of the Word file, row 3 of the sheet."""

    def cited(question: str) -> list[tuple[int | None, int | None, int | None]]:
        support = answers[question]["support"]
        return [
            (c.get("start_line"), c.get("end_line"), c.get("page"))
            for sentence in support["sentences"] if sentence["supported"] for c in sentence["citations"]
        ]

    assert (4, 4, None) in cited(FACTS[0][0])  # "The inspection fee ..." is the 4th paragraph of report.docx
    assert (3, 3, None) in cited(FACTS[2][0])  # Brake pads: row 3 of the sheet, alone
    assert (None, None, 2) in cited(FACTS[1][0])  # slide 2
    assert "Chain KMC" not in answers[FACTS[2][0]]["answer"]  # one spreadsheet row is one unit


def test_the_cold_query_loads_no_office_reader(folder: Path, indexed: dict):
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['rag-app', 'query', 'Who supplies the brake pads?']\n"
        "try:\n    runpy.run_module('rag_app', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "mods = ('docx', 'pptx', 'openpyxl', 'PIL', 'pytesseract', 'pypdf', 'loaders.office', 'loaders.sheets')\n"
        "print('READERS', sorted(m for m in mods if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=folder / "work", timeout=600,
        env=sealed_environ(folder / "home"),
    )
    assert "READERS []" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]


def test_a_scanned_page_without_tesseract_is_named(tmp_path: Path):
    """With no tesseract on PATH a scanned page is named with what to install, never silently empty:
    page 3 of a manual whose first two pages have text, and a scan with no text at all."""
    from pypdf import PdfWriter

    from helpers import DATA

    docs = tmp_path / "scans"
    docs.mkdir()
    writer = PdfWriter()
    writer.append(str(DATA / "e-commuter-quickstart.pdf"))
    writer.append(str(make_scanned_pdf(tmp_path / "page.pdf")))
    writer.write(docs / "manual.pdf")
    make_scanned_pdf(docs / "scan.pdf")
    work = tmp_path / "work"  # the autouse fixture made it
    (work / ".env").write_text(f"RAG_PERSIST_DIR={tmp_path / 'index'}\nRAG_EMBEDDINGS=fake\n")
    run = _cli("reindex", str(docs), "--json", "--strict", cwd=work, PATH=str(tmp_path / "no-bin"))
    assert run.returncode == 5, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["files_indexed"] == 1 and report["chunks"] > 0
    assert report["warnings"] == [{
        "source": str(docs / "manual.pdf"), "page": 3, "line": None,
        "reason": "no text layer (scanned?) — install tesseract-ocr to read it",
    }]
    assert [(Path(s["source"]).name, s["reason"]) for s in report["skipped"]] == [
        ("scan.pdf", "no text layer on any page (scanned?) — install tesseract-ocr to read it")
    ]
    assert f"warning: {docs / 'manual.pdf'} page 3: no text layer (scanned?) — install tesseract-ocr to read it" in run.stderr


def test_ocr_reads_a_scanned_page_when_tesseract_is_installed(tmp_path: Path):
    if not HAS_TESSERACT:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr): the OCR path cannot run here")
    from loaders import SplitConfig, load_chunks

    chunks = load_chunks(make_scanned_pdf(tmp_path / "scan.pdf", "Invoice 7731 is due on 12 March."), SplitConfig())
    assert chunks[0].page == 1 and "7731" in chunks[0].text and "March" in chunks[0].text

