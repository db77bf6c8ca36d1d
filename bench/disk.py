"""Where an index's bytes go: per file, and per SQLite table/index (``dbstat``), per chunk.

    python bench/disk.py RAG_PERSIST_DIR [--chunks N]

``--chunks``: divide by this (default: the rows of the search side's ``chunks`` table).
Used by ``bench/scale.py --disk``; runs on any index directory, ours or plain Chroma's.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path


def files(root: Path) -> list[tuple[str, int]]:
    """``(path relative to root, bytes on disk)`` of every file, largest first."""
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            out.append((str(path.relative_to(root)), path.stat().st_blocks * 512))
    return sorted(out, key=lambda r: -r[1])


def tables(db_path: Path) -> list[tuple[str, int]]:
    """``(table or index, bytes)`` of one SQLite file, largest first (the WAL not included)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return ([("(free pages)", int(free))] if free else []) + [(str(n), int(s)) for n, s in rows]


def chunk_count(root: Path) -> int:
    db_path = root / "rag_app_records.sqlite3"
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        except sqlite3.Error:
            pass
        finally:
            db.close()
    db = sqlite3.connect(f"file:{root / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
    finally:
        db.close()


def report(root: Path, chunks: int | None = None, top: int = 12) -> str:
    """A text table of bytes per chunk by file and by SQLite table."""
    n = chunks or chunk_count(root) or 1
    listing = files(root)
    total = sum(size for _, size in listing)
    lines = [f"  {'total':<58} {total / n:9.0f} B/chunk  ({total / 2**20:.1f} MB, {n} chunks)"]
    grouped: dict[str, int] = {}
    for name, size in listing:
        key = name.split("/")[0] if "/" in name and not name.startswith("arrays/") else name
        if name.startswith("arrays/"):
            key = "arrays/*." + name.rsplit(".", 2)[-2]
        grouped[key] = grouped.get(key, 0) + size
    for name, size in sorted(grouped.items(), key=lambda r: -r[1])[:top]:
        lines.append(f"    {name:<56} {size / n:9.0f}")
        if name.endswith(".sqlite3"):
            for table, tsize in tables(root / name)[:top]:
                lines.append(f"      {table:<54} {tsize / n:9.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--chunks", type=int)
    args = parser.parse_args()
    print(report(args.root, args.chunks))


if __name__ == "__main__":
    main()
