"""The query ledger: one SQLite row per answered question, next to the index.

``<persist_dir>/ledger.sqlite3`` holds tokens, latency per stage, backend and
cost of every query (never the question text), so ``rag-app stats`` and
``rag-app cost`` can work from what really happened. Set ``RAG_LEDGER=0`` to
turn it off.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from rag_app.measure.metrics import percentile

if TYPE_CHECKING:
    from rag_app.results import Answer
    from rag_app.measure.usage import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    backend TEXT NOT NULL,
    k INTEGER NOT NULL,
    streamed INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    context_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    counted_by TEXT NOT NULL,
    estimate_error REAL,
    retrieve_ms REAL NOT NULL,
    generate_ms REAL NOT NULL,
    cost REAL
)
"""


#: Writers of one process take turns here rather than in SQLite's busy handler, whose
#: growing sleeps gave multi-second waits with 20 threads of `rag-app serve` writing.
_WRITE_LOCK = threading.Lock()


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    # WAL without an fsync per insert (a power cut may lose the last rows, never the file).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(_SCHEMA)
    return conn


class Ledger:
    """Append-only record of queries; every call opens and closes its own connection."""

    FILE = "ledger.sqlite3"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        return _open(self.path)

    def record(self, answer: "Answer", usage: "Usage", streamed: bool = False, ts: float | None = None) -> None:
        with _WRITE_LOCK, self._connect() as conn:
            conn.execute(_INSERT, _row(answer, usage, streamed, ts))
        conn.close()

    def writer(self) -> "LedgerWriter":
        """A writer that appends rows off the caller's thread (for a server; close it at the end)."""
        return LedgerWriter(self)

    def rows(self, since: float | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            cursor = conn.execute("SELECT * FROM queries WHERE ts >= ? ORDER BY ts", (since or 0.0,))
            result = [dict(r) for r in cursor]
        conn.close()
        return result


_INSERT = ("INSERT INTO queries (ts, day, backend, k, streamed, prompt_tokens, context_tokens, completion_tokens,"
           " counted_by, estimate_error, retrieve_ms, generate_ms, cost) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _row(answer: "Answer", usage: "Usage", streamed: bool, ts: float | None) -> tuple[Any, ...]:
    ts = time.time() if ts is None else ts
    return (
        ts, time.strftime("%Y-%m-%d", time.localtime(ts)), answer.llm, len(answer.sources), int(streamed),
        usage.prompt_tokens, usage.context_tokens, usage.completion_tokens, usage.counted_by,
        usage.estimate_error, answer.timings_ms.get("retrieve", 0.0), answer.timings_ms.get("generate", 0.0),
        usage.cost,
    )


class LedgerWriter:
    """:meth:`Ledger.record` off the request thread: one daemon thread inserts the rows queued
    meanwhile in one transaction, through one connection it keeps open (no WAL checkpoint per row).
    :meth:`flush` waits until what was recorded so far is in the file; :meth:`close` writes what is
    queued and stops the thread (later rows are written inline)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._rows: list[tuple[Any, ...]] = []
        self._written = 0
        self._queued = 0
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def record(self, answer: "Answer", usage: "Usage", streamed: bool = False, ts: float | None = None) -> None:
        row = _row(answer, usage, streamed, ts)
        with self._changed:
            if self._closed:  # late (a request finishing after shutdown): written on this thread
                self.ledger.record(answer, usage, streamed, row[0])
                return
            self._rows.append(row)
            self._queued += 1
            self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row recorded so far is written; ``False`` if ``timeout`` passed first."""
        with self._changed:
            target = self._queued
            return self._changed.wait_for(lambda: self._written >= target or not self._thread.is_alive(), timeout)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = _open(self.ledger.path)
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._rows or self._closed)
                    rows, self._rows = self._rows, []
                    if not rows and self._closed:
                        return
                try:
                    with _WRITE_LOCK, conn:
                        conn.executemany(_INSERT, rows)
                except sqlite3.Error as exc:  # bookkeeping must never stop the server; say what was lost
                    import warnings

                    warnings.warn(f"{len(rows)} queries not recorded in the ledger: {exc}", stacklevel=1)
                with self._changed:
                    self._written += len(rows)
                    self._changed.notify_all()
        finally:
            conn.close()
            with self._changed:
                self._changed.notify_all()


def summarize(rows: Iterable[dict[str, Any]], by: tuple[str, ...] = ("day", "backend")) -> list[dict[str, Any]]:
    """Per group: queries, p50/p95 latency per stage and total, mean tokens, total cost."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[key] for key in by)].append(row)
    out = []
    for key, members in sorted(groups.items()):
        total_ms = [r["retrieve_ms"] + r["generate_ms"] for r in members]
        costs = [r["cost"] for r in members if r["cost"] is not None]
        errors = [r["estimate_error"] for r in members if r["estimate_error"] is not None]
        out.append(
            {
                **dict(zip(by, key)),
                "queries": len(members),
                "retrieve_p50_ms": percentile((r["retrieve_ms"] for r in members), 50),
                "retrieve_p95_ms": percentile((r["retrieve_ms"] for r in members), 95),
                "generate_p50_ms": percentile((r["generate_ms"] for r in members), 50),
                "generate_p95_ms": percentile((r["generate_ms"] for r in members), 95),
                "total_p50_ms": percentile(total_ms, 50),
                "total_p95_ms": percentile(total_ms, 95),
                "prompt_tokens_mean": sum(r["prompt_tokens"] for r in members) / len(members),
                "context_tokens_mean": sum(r["context_tokens"] for r in members) / len(members),
                "completion_tokens_mean": sum(r["completion_tokens"] for r in members) / len(members),
                "cost_total": sum(costs) if costs else None,
                "unpriced": len(members) - len(costs),
                "estimate_error_mean": sum(errors) / len(errors) if errors else None,
            }
        )
    return out
