"""A server's ledger rows are written off the request threads, in batches, and none is lost."""

from __future__ import annotations

import threading
from pathlib import Path

from rag_app.measure.ledger import Ledger
from rag_app.measure.usage import Usage
from rag_app.results import Answer


def _answer(n: int) -> Answer:
    return Answer(question=f"q{n}", answer="a", sources=[], timings_ms={"retrieve": float(n), "generate": 1.0},
                  llm="extractive")


def test_rows_from_many_threads_all_land_and_flush_waits_for_them(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    writer = ledger.writer()
    usage = Usage(10, 5, 2, "estimate:cl100k_base", 0.0)

    def record(first: int) -> None:
        for n in range(first, first + 50):
            writer.record(_answer(n), usage, streamed=n % 2 == 0)

    threads = [threading.Thread(target=record, args=(i * 50,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.flush(timeout=30)
    rows = ledger.rows()  # another connection sees every row once flush returned
    assert len(rows) == 400
    assert sorted(r["retrieve_ms"] for r in rows) == [float(n) for n in range(400)]
    assert sum(r["streamed"] for r in rows) == 200 and {r["prompt_tokens"] for r in rows} == {10}
    writer.record(_answer(400), usage)
    writer.close()  # writes what is still queued
    assert len(ledger.rows()) == 401
    writer.record(_answer(401), usage)  # a request finishing after shutdown: written inline
    assert len(ledger.rows()) == 402
