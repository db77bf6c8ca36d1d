"""Reindex benchmark: full index, no-change reindex, one-paragraph edit, and their ratios.

    python bench/reindex.py                      # squad_expmrc corpus + all shared corpora together
    python bench/reindex.py --corpus DIR [DIR]   # your own corpora

Every corpus is copied to a temp dir (the shared data stays untouched). Times are
in-process (`RagApp.reindex`) with the embedding model already loaded, so they
measure indexing, not Python start-up; the CLI's whole-process cost of a
no-change run is printed too, since that is what cron pays.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVALDATA = ROOT.parent / "shared" / "evaldata"
sys.path.insert(0, str(ROOT))

from rag_app import RagApp, Settings  # noqa: E402


def copy_corpora(sources: list[Path], target: Path) -> Path:
    target.mkdir(parents=True)
    for source in sources:
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copy(path, target / f"{source.parent.name}__{path.name}")
    return target


def edit_one_paragraph(corpus: Path) -> str:
    """Change a few words in the middle paragraph of the largest file."""
    path = max(corpus.iterdir(), key=lambda p: p.stat().st_size)
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    middle = len(paragraphs) // 2
    paragraphs[middle] = paragraphs[middle].replace(" the ", " THE ", 2) + " (edited)"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path.name


def bench(name: str, sources: list[Path], repeats: int) -> dict[str, float | int | str]:
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        corpus = copy_corpora(sources, tmp / "corpus")
        app = RagApp(Settings(), persist_dir=str(tmp / "index"))
        app.embedder.embed_query("warm up")  # load the model outside the timings
        t = time.perf_counter()
        full = app.reindex([corpus])
        full_s = time.perf_counter() - t
        nochange = []
        for _ in range(repeats):
            t = time.perf_counter()
            report = app.reindex([corpus])
            nochange.append(time.perf_counter() - t)
            assert report.added == report.updated == report.deleted == 0
        edits, embedded = [], []
        for _ in range(repeats):
            edit_one_paragraph(corpus)
            before = app.embedder.embedded_texts
            t = time.perf_counter()
            app.reindex([corpus])
            edits.append(time.perf_counter() - t)
            embedded.append(app.embedder.embedded_texts - before)
        app.close()
        env_file = tmp / "bench.env"
        env_file.write_text(f"RAG_PERSIST_DIR={tmp / 'index'}\n")
        cli = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "rag_app", "--env-file", str(env_file), "reindex", str(corpus)],
                           check=True, capture_output=True, cwd=tmp)
            cli.append(time.perf_counter() - t)
        no_change, edit = statistics.median(nochange), statistics.median(edits)
        return {
            "corpus": name,
            "files": full.files,
            "chunks": full.chunks,
            "full_s": round(full_s, 2),
            "chunks_per_s": round(full.chunks / full_s, 1),
            "no_change_s": round(no_change, 3),
            "no_change_ratio": round(no_change / full_s, 4),
            "edit_s": round(edit, 3),
            "edit_ratio": round(edit / full_s, 4),
            "edit_chunks_embedded": statistics.median(embedded),
            "cli_no_change_s": round(statistics.median(cli), 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", type=Path, help="corpus directories (each benchmarked alone)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.corpus:
        runs = [(p.name, [p]) for p in args.corpus]
    else:
        squad = EVALDATA / "squad_expmrc" / "corpus"
        every = sorted(p / "corpus" for p in EVALDATA.iterdir() if (p / "corpus").is_dir())
        runs = [("squad_expmrc", [squad]), ("all shared corpora", every)]
    rows = [bench(name, sources, args.repeats) for name, sources in runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'corpus':<20} {'files':>5} {'chunks':>6} {'full s':>8} {'chunk/s':>8} {'no-change s':>11} {'ratio':>7} "
          f"{'edit s':>7} {'ratio':>7} {'re-embedded':>11} {'CLI no-change s':>15}")
    for r in rows:
        print(f"{r['corpus']:<20} {r['files']:>5} {r['chunks']:>6} {r['full_s']:>8} {r['chunks_per_s']:>8} "
              f"{r['no_change_s']:>11} {r['no_change_ratio']:>7.2%} {r['edit_s']:>7} {r['edit_ratio']:>7.2%} "
              f"{r['edit_chunks_embedded']:>11} {r['cli_no_change_s']:>15}")
    print("targets: no-change <= 3% of full, one-paragraph edit <= 5% of full")


if __name__ == "__main__":
    main()
