"""Reading Office files must not be the bottleneck: `RagApp.reindex` on a folder of generated
.docx, .pptx and .xlsx files, with the time split into reading (read + split) and embedding.

The files are generated with python-docx, python-pptx and openpyxl from the paragraphs of a
shared evaluation corpus (every file different, so nothing is embedded twice): Word files of a
few headings, paragraphs and a table; decks of slides with notes; workbooks of a few dozen rows.
Then, in one process, each round:

- read:    loaders.load_chunks on every file (what a reindex does before embedding);
- reindex: RagApp.reindex([folder]) into a fresh index with the shipped MiniLM (ONNX int8),
           timing the reading and the embedding inside it.

    python bench/office_reindex.py                  # 200 files, 2 rounds
    python bench/office_reindex.py --files 60 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import EVALDATA, machine


def _paragraphs(limit: int) -> list[str]:
    corpus = EVALDATA / "squad_expmrc" / "corpus"
    texts: list[str] = []
    for path in sorted(corpus.iterdir()) if corpus.is_dir() else []:
        texts += [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 80]
        if len(texts) >= limit:
            break
    if not texts:  # no shared data here: varied synthetic text
        texts = [f"Report {i}: the depot in district {i % 17} serviced {i * 7 % 91} bikes in week {i % 52}." for i in range(limit)]
    return texts


def generate(folder: Path, files: int) -> dict[str, int]:
    import docx
    import openpyxl
    import pptx

    texts = _paragraphs(files * 8)
    made = {".docx": 0, ".pptx": 0, ".xlsx": 0}
    for i in range(files):
        chunk = [texts[(i * 8 + j) % len(texts)] for j in range(8)]
        kind = (".docx", ".pptx", ".xlsx")[i % 3]
        path = folder / f"file{i:03d}{kind}"
        if kind == ".docx":
            doc = docx.Document()
            for j, text in enumerate(chunk[:6]):
                if j % 3 == 0:
                    doc.add_heading(f"Part {i}.{j}", 1 + j % 2)
                doc.add_paragraph(text)
            table = doc.add_table(rows=4, cols=3)
            for r in range(4):
                for c in range(3):
                    table.cell(r, c).text = ("Item", "Count", "Note")[c] if r == 0 else f"{i}-{r}-{c} {chunk[6][:20 * c]}"
            doc.save(path)
        elif kind == ".pptx":
            deck = pptx.Presentation()
            for j in range(4):
                slide = deck.slides.add_slide(deck.slide_layouts[1])
                slide.shapes.title.text = f"Slide {i}.{j}"
                slide.placeholders[1].text = chunk[j][:400]
                slide.notes_slide.notes_text_frame.text = chunk[j + 4][:300]
            deck.save(path)
        else:
            book = openpyxl.Workbook()
            sheet = book.active
            sheet.append(["Id", "Region", "Units", "Remark"])
            for r in range(40):
                sheet.append([f"{i}-{r}", f"Region {r % 9}", r * 3 + i, chunk[r % 8][:60]])
            book.save(path)
        made[kind] += 1
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200, help="how many files (a third of each type)")
    parser.add_argument("--runs", type=int, default=2, help="rounds; medians are printed")
    args = parser.parse_args()

    import rag_app.store.plan as plan
    from loaders import SplitConfig, load_chunks
    from rag_app import RagApp, Settings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "office"
        folder.mkdir()
        started = time.perf_counter()
        made = generate(folder, args.files)
        print(f"generated {made} in {time.perf_counter() - started:.1f} s; {machine()}")
        paths = sorted(folder.iterdir())
        read_s, total_s, in_read_s, in_embed_s, chunks = [], [], [], [], 0
        by_kind: dict[str, list[float]] = {}
        for run in range(args.runs):
            started = time.perf_counter()
            for path in paths:
                t = time.perf_counter()
                chunks_here = load_chunks(path, SplitConfig())
                by_kind.setdefault(path.suffix, []).append(time.perf_counter() - t)
                chunks += len(chunks_here) if run == 0 else 0
            read_s.append(time.perf_counter() - started)

            spent = {"read": 0.0, "embed": 0.0}
            original = plan.load_chunks

            def timed_load(*a, **k):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    spent["read"] += time.perf_counter() - t

            plan.load_chunks = timed_load
            try:
                with RagApp(Settings(), persist_dir=str(Path(tmp) / f"index{run}")) as app:
                    embedder = app.embedder
                    embed = embedder.embed_documents

                    def timed_embed(texts):  # type: ignore[no-untyped-def]
                        t = time.perf_counter()
                        try:
                            return embed(texts)
                        finally:
                            spent["embed"] += time.perf_counter() - t

                    embedder.embed_documents = timed_embed  # type: ignore[method-assign]
                    started = time.perf_counter()
                    report = app.reindex([folder])
                    total_s.append(time.perf_counter() - started)
            finally:
                plan.load_chunks = original
            in_read_s.append(spent["read"])
            in_embed_s.append(spent["embed"])
            assert report.files_indexed == len(paths) and not report.skipped, report.skipped

        n = len(paths)
        read, total = statistics.median(read_s), statistics.median(total_s)
        r_in, e_in = statistics.median(in_read_s), statistics.median(in_embed_s)
        print(f"{n} files, {chunks} chunks, {args.runs} round(s), medians:")
        print(f"  read + split alone : {read:6.2f} s  = {n / read:6.1f} files/s")
        for kind, times in sorted(by_kind.items()):
            print(f"    {kind:6s} {statistics.median(times) * 1000:7.1f} ms/file (median)")
        print(f"  reindex            : {total:6.2f} s  = {n / total:6.1f} files/s, {chunks / total:6.1f} chunks/s")
        print(f"    reading  {r_in:6.2f} s ({r_in / total:5.1%})   embedding {e_in:6.2f} s ({e_in / total:5.1%})"
              f"   rest (Chroma, search side, records) {total - r_in - e_in:6.2f} s ({(total - r_in - e_in) / total:5.1%})")


if __name__ == "__main__":
    main()
