"""The REPL tested as a whole transcript."""

from __future__ import annotations

import io
from pathlib import Path

from rag_app.cli.repl import Repl


def scripted(lines: list[str]):
    feed = iter(lines)

    def fake_input(prompt: str) -> str:
        try:
            item = next(feed)
        except StopIteration:
            raise EOFError from None
        if item == "^C":
            raise KeyboardInterrupt
        return item

    return fake_input


def test_transcript(make_app, corpus: Path):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    out = io.StringIO()
    code = Repl(app, scripted(["", "How long are carbon frames covered?", ":sources", ":k 2", "^C", ":llm nope", ":llm fake", "battery storage", ":help", ":bogus", ":quit", "never asked"]), out).run()
    text = out.getvalue()
    assert code == 0
    assert "carbon" in text.lower() and "Sources:" in text
    assert "[1] " in text and "§ " in text  # :sources prints the passages in full
    assert "k = 2" in text
    assert "is not known. Available:" in text
    assert "llm = fake" in text and "Fake answer to 'battery storage' from 2 passages" in text
    assert ":quit" in text and "Unknown command :bogus" in text
    assert "never asked" not in text


def test_ctrl_d_leaves_cleanly(make_app):
    out = io.StringIO()
    assert Repl(make_app(), scripted([]), out).run() == 0
