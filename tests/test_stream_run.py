"""A streamed answer is one run of the chain: callbacks and tracing see one tree."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

QUESTION = "How long is the warranty on an aluminium frame?"


class Runs(BaseCallbackHandler):
    """Every chain run: its name and its parent."""

    def __init__(self) -> None:
        self.parent: dict[UUID, UUID | None] = {}
        self.name: dict[UUID, str] = {}
        self.ended: set[UUID] = set()

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       name: str | None = None, **kwargs: Any) -> None:
        self.parent[run_id], self.name[run_id] = parent_run_id, name or ""

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.ended.add(run_id)

    def roots(self) -> list[str]:
        return [self.name[r] for r, parent in self.parent.items() if parent is None]

    def path(self, name: str) -> list[str]:
        run = next(r for r, n in self.name.items() if n == name)
        names = []
        while run is not None:
            names.append(self.name[run])
            run = self.parent[run]
        return names


def test_a_stream_is_one_root_run_with_retrieval_and_generation_inside(make_app, corpus: Path):
    app = make_app(llm="fake")
    app.reindex([corpus])
    runs = Runs()
    streaming = app.stream(QUESTION, config={"callbacks": [runs]})
    assert streaming.sources  # retrieved before any piece is asked for
    pieces = list(streaming)
    assert len(pieces) > 3 and streaming.result is not None
    assert runs.roots() == ["rag_app"]
    assert runs.path("rag_answer")[-1] == "rag_app" and runs.path("retrieve")[-1] == "rag_app"
    assert set(runs.parent) == runs.ended  # every run, the root included, has ended


def test_the_chain_streams_and_invokes_as_one_run_each_sync_and_async(make_app, corpus: Path):
    app = make_app(llm="fake")
    app.reindex([corpus])
    chain = app.chain()
    for call in ("invoke", "stream", "ainvoke", "astream"):
        runs = Runs()
        config = {"callbacks": [runs]}
        if call == "invoke":
            out = chain.invoke({"question": QUESTION}, config)
        elif call == "stream":
            out = {}
            for chunk in chain.stream({"question": QUESTION}, config):
                out.update(chunk)
        elif call == "ainvoke":
            out = asyncio.run(chain.ainvoke({"question": QUESTION}, config))
        else:
            async def collect() -> dict:
                merged: dict = {}
                async for chunk in chain.astream({"question": QUESTION}, config):
                    merged.update(chunk)
                return merged

            out = asyncio.run(collect())
        assert out["answer"].answer.startswith("Fake answer"), call
        assert runs.roots() == ["rag_app"], (call, runs.roots())
        assert runs.path("rag_answer")[-1] == "rag_app", call


def test_the_answer_step_uses_public_runnables_only():
    from rag_app.answer import chain, streaming

    for module in (chain, streaming):
        source = inspect.getsource(module)
        assert "_call_with_config" not in source and "_transform_stream_with_config" not in source
