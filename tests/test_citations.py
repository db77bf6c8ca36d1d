"""One citation truth: every entry point shows the support check's [n] markers, and only them."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rag_app.cli.repl import Repl

QUESTION = "How long is the warranty on an aluminium frame?"
MARKERS = re.compile(r"\[\d+\]")


def markers(text: str) -> list[str]:
    return MARKERS.findall(text)


def test_markers_come_from_the_check_not_from_the_model(make_app, corpus: Path):
    # The model cites [3] for the frame and [1] for the battery; the check decides for itself.
    said = ("The aluminium and steel frames are covered against manufacturing defects for 10 years [3]. "
            "The battery is covered for 2 years [1]. The frames are painted by hand in Paris [2].")
    model = GenericFakeChatModel(messages=iter([AIMessage(content=said)] * 3))
    app = make_app(llm=model, k=6)
    app.reindex([corpus])
    answer = app.query(QUESTION)
    support = answer.support
    frame, battery, paint = support.sentences
    assert frame.verdict == "supported" and Path(frame.citations[0].source).name == "warranty.md"
    assert frame.citations[0].start_line == 10
    assert battery.verdict == "supported" and battery.citations[0].start_line == 22  # the battery's line, not the motor's
    assert paint.verdict == "unsupported"
    n_frame, n_battery = frame.citations[0].passage, battery.citations[0].passage
    assert answer.answer == (
        f"The aluminium and steel frames are covered against manufacturing defects for 10 years. [{n_frame}] "
        f"The battery is covered for 2 years. [{n_battery}] The frames are painted by hand in Paris."
    )
    assert support.cited_text == answer.answer + " [unsupported]"
    # every [n] points at the passage listed as source n, and sources are best score first
    assert Path(answer.sources[n_frame - 1].source).name == "warranty.md"
    scores = [s.score for s in answer.sources]
    assert scores == sorted(scores, reverse=True)

    streaming = app.stream(QUESTION)
    pieces = list(streaming)
    assert "".join(pieces) == streaming.result.answer == answer.answer
    # the frame's marker is shown before the rest of the answer is written
    assert any(p.strip() == f"[{n_frame}]" or p.startswith(f" [{n_frame}]") for p in pieces)


def test_every_entry_point_shows_the_same_markers(make_app, corpus: Path, env, cli):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    answer = app.query(QUESTION)
    expected = markers(answer.answer)
    assert expected and expected == markers(answer.support.cited_text)
    for sentence in answer.support.sentences:  # the extractive answer quotes: each quote cites its own line
        assert sentence.verdict == "supported" and sentence.citations[0].text == sentence.text

    streaming = app.stream(QUESTION)
    assert "".join(streaming) == answer.answer
    assert app.qa_chain().invoke({"query": QUESTION})["result"] == answer.answer

    cli("reindex", str(corpus), code=0)
    text = cli("query", QUESTION, "--llm", "extractive", code=0).out
    body, _ = text.split("\n\nSources:\n")
    assert markers(body) == expected
    data = cli.json("query", QUESTION, "--llm", "extractive", "--json")
    assert markers(data["answer"]) == markers(data["cited_answer"]) == expected
    streamed = cli("query", QUESTION, "--llm", "extractive", "--stream", code=0).out
    assert streamed.startswith(answer.answer)
    streamed_json = cli.json("query", QUESTION, "--llm", "extractive", "--stream", "--json")
    assert streamed_json["answer"] == data["answer"]

    from test_repl import scripted

    out = io.StringIO()
    Repl(make_app(llm="extractive"), scripted([QUESTION]), out).run()
    assert answer.answer in out.getvalue()


def _serve(app) -> tuple[str, object]:
    import uvicorn

    from rag_app.serve.app import create_app
    from rag_app.serve.service import RagService

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(RagService(app, models=["extractive"])), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def test_server_json_and_sse_show_the_same_markers(make_app, corpus: Path):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    expected = app.query(QUESTION).answer
    url, server = _serve(app)
    try:
        plain = httpx.post(f"{url}/query", json={"question": QUESTION}, timeout=60).json()
        assert plain["answer"] == expected and markers(plain["cited_answer"]) == markers(expected)
        body = {"model": "extractive", "messages": [{"role": "user", "content": QUESTION}]}
        completion = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
        assert completion["choices"][0]["message"]["content"] == expected
        streamed, last = "", None
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunk = json.loads(line[6:])
                    delta = chunk["choices"][0]["delta"] if chunk.get("choices") else {}
                    streamed += delta.get("content") or ""
                    if "sources" in chunk:
                        last = chunk
        assert streamed == expected and last is not None
        assert markers(last["cited_answer"]) == markers(expected) and last["answer"] == expected
    finally:
        server.should_exit = True


@pytest.mark.slow
def test_eval_perturb_reports_each_kind(env, cli, corpus: Path):
    result = cli.json("eval", "--perturb", "--corpus", str(corpus), "--n", "3", "--seed", "1", "--json")
    kinds = result["kinds"]
    assert set(kinds) == {"verbatim", "number", "name_corpus", "name_retrieved", "negation", "qualifier", "stitched"}
    assert kinds["verbatim"]["n"] > 0 and kinds["verbatim"]["rate"] == 1.0
    for kind in ("number", "negation"):
        assert kinds[kind]["n"] > 0 and kinds[kind]["rate"] == 1.0, kinds[kind]
    again = cli.json("eval", "--perturb", "--corpus", str(corpus), "--n", "3", "--seed", "1", "--json")
    assert {k: v["supported"] for k, v in again["kinds"].items()} == {k: v["supported"] for k, v in kinds.items()}
    bad = cli("eval", "--perturb", "--corpus", str(corpus / "nope"), code=4)
    assert "is not a directory" in bad.err and "Traceback" not in bad.err
    assert "needs a QA_FILE" in cli("eval", "--corpus", str(corpus), code=4).err
