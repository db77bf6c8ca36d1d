"""`rag-app serve` as a real process on loopback, driven by the official openai client,
LangChain's ChatOpenAI and raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving import Server, build_index, start_server

pytestmark = pytest.mark.slow

KEY = "s3cret-test-key"
QUESTION = "How long is the warranty on an aluminium frame?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("serve")
    work, env = build_index(base)
    env.update(RAG_MAX_REQUEST_BYTES="20000", RAG_MAX_QUESTION_CHARS="500")
    server = start_server(work, env, "--llm", "extractive", "--models", "extractive,fake", key=KEY)
    yield server
    assert server.stop() == 0, server.output()[-2000:]
    assert KEY not in server.output()  # the key is never logged


def _client(server: Server, key: str | None = KEY):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def _post(server: Server, path: str, body: object = None, **kw) -> httpx.Response:
    headers = {**server.headers(), **kw.pop("headers", {})}
    if body is not None and "content" not in kw:
        kw["json"] = body
    return httpx.post(f"{server.url}{path}", headers=headers, timeout=60, **kw)


def test_openai_client_gets_the_answer_with_its_sources(server: Server):
    completion = _client(server).chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "extractive"
    assert "10 years" in completion.choices[0].message.content
    sources = completion.model_extra["sources"]
    assert sources and sources[0]["source"].endswith("warranty.md")
    assert sources[0]["start_line"] >= 1 and sources[0]["end_line"] >= sources[0]["start_line"]
    assert "10 years" in sources[0]["text"]
    assert completion.model_extra["support"]["status"] in {"supported", "partial"}
    assert completion.usage.completion_tokens > 0


def test_openai_client_streams_token_pieces_then_sources_then_done(server: Server):
    stream = _client(server).chat.completions.create(
        model="fake", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)  # the client stops at `data: [DONE]`
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 5  # the fake backend streams word by word
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert "".join(pieces).strip() == last.model_extra["answer"]
    assert last.model_extra["sources"][0]["source"].endswith(".md") or last.model_extra["sources"]
    assert all("sources" not in (c.model_extra or {}) for c in chunks[:-1])


def test_stream_and_plain_completion_agree_for_the_same_question(server: Server):
    client = _client(server)
    plain = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True))
    assert chunks[-1].model_extra["answer"] == plain.choices[0].message.content
    assert [s["chunk_id"] for s in chunks[-1].model_extra["sources"]] == [s["chunk_id"] for s in plain.model_extra["sources"]]


def test_raw_stream_ends_with_done_and_include_usage_adds_a_usage_chunk(server: Server):
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=server.headers(), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert "sources" in json.loads(events[-3])


def test_wrong_key_and_no_key_are_refused_and_the_page_is_open(server: Server):
    import openai

    with pytest.raises(openai.AuthenticationError) as caught:
        _client(server, key="wrong").chat.completions.create(model="extractive", messages=[{"role": "user", "content": "hi"}])
    assert "Wrong API key" in str(caught.value)
    for path in ("/v1/models", "/health", "/stats"):
        response = httpx.get(f"{server.url}{path}", timeout=10)
        assert response.status_code == 401
        assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert _post(server, "/query", {"question": QUESTION}, headers={"Authorization": "Basic abc"}).status_code == 401
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200 and "<title>rag-app</title>" in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]


def test_models_lists_the_served_backends_and_model_picks_one(server: Server):
    client = _client(server)
    assert [m.id for m in client.models.list()] == ["extractive", "fake"]
    fake = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": QUESTION}])
    assert fake.model == "fake" and fake.choices[0].message.content.startswith("Fake answer")
    # Any other name (LangChain and other clients send their own default) means the default backend.
    other = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}])
    assert other.model == "extractive"


def test_earlier_messages_are_condensed_like_the_repl(server: Server):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "How long is the warranty on an aluminium frame?"},
        {"role": "assistant", "content": "10 years."},
        {"role": "user", "content": "and carbon ones?"},
    ]
    reply = _client(server).chat.completions.create(model="fake", messages=messages)
    # The fake backend echoes the question it was asked: the standalone one.
    assert "carbon ones? (" in reply.choices[0].message.content
    assert "warranty" in reply.choices[0].message.content


def test_langchain_chat_openai_works_unchanged(server: Server):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server.url}/v1", api_key=KEY, model="extractive", max_retries=0)
    reply = chat.invoke(QUESTION)
    assert "10 years" in reply.content
    streamed = "".join(piece.content for piece in chat.stream(QUESTION))
    assert streamed.strip() == reply.content


def test_langchain_chat_openai_users_get_the_sources_in_response_metadata(server: Server):
    """ChatOpenAI keeps no unknown field of a completion; response headers it keeps, when asked to."""
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server.url}/v1", api_key=KEY, model="extractive", max_retries=0,
                      include_response_headers=True)
    reply = chat.invoke(QUESTION)
    sources = json.loads(reply.response_metadata["headers"]["x-rag-sources"])
    assert sources[0]["n"] == 1 and sources[0]["source"].endswith("warranty.md")
    assert sources[0]["start_line"] <= sources[0]["end_line"]
    plain = _client(server).chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    assert [s["chunk_id"] for s in sources] == [s["chunk_id"] for s in plain.model_extra["sources"]]

    chunks = list(chat.stream(QUESTION))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert json.loads(merged.response_metadata["headers"]["x-rag-sources"]) == sources
    assert merged.content.strip() == reply.content


def test_query_route_returns_exactly_what_query_json_prints(server: Server):
    response = _post(server, "/query", {"question": QUESTION, "k": 3})
    assert response.status_code == 200
    served = response.json()
    cli = subprocess.run(
        [sys.executable, "-m", "rag_app", "query", QUESTION, "--json", "--k", "3", "--llm", "extractive"],
        cwd=server.work, env=server.env, capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert set(served) == set(printed)
    for key in ("question", "answer", "cited_answer", "sources", "llm"):
        assert served[key] == printed[key], key
    assert served["support"]["status"] == printed["support"]["status"]
    assert len(served["sources"]) == 3


def test_bad_requests_get_a_message_and_never_a_traceback(server: Server):
    cases = [
        (_post(server, "/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}), 400, "not valid JSON"),
        (_post(server, "/v1/chat/completions", [1, 2]), 400, "JSON object"),
        (_post(server, "/v1/chat/completions", {"model": "extractive"}), 400, "`messages`"),
        (_post(server, "/v1/chat/completions", {"messages": [{"role": "assistant", "content": "hi"}]}), 400, "user message"),
        (_post(server, "/query", {"question": "  "}), 400, "non-empty"),
        (_post(server, "/query", {"question": QUESTION, "k": "four"}), 400, "`k`: Input should be a valid integer"),
        (_post(server, "/query", {"question": QUESTION, "k": 0}), 400, "`k`: Input should be greater than or equal to 1"),
        (_post(server, "/query", {"question": QUESTION, "llm": "local"}), 400, "not served here"),
        (_post(server, "/query", {"question": QUESTION, "where": "source:nothing-matches-*.xyz"}), 400, "--where"),
        (_post(server, "/query", {"question": "why " * 200}), 413, "RAG_MAX_QUESTION_CHARS"),
        (_post(server, "/query", {"question": QUESTION, "pad": "x" * 30000}), 413, "RAG_MAX_REQUEST_BYTES"),
        (httpx.get(f"{server.url}/nowhere", headers=server.headers(), timeout=10), 404, "Not Found"),
        (httpx.get(f"{server.url}/reindex/nope", headers=server.headers(), timeout=10), 404, "No reindex job"),
        (httpx.get(f"{server.url}/stats?by=week", headers=server.headers(), timeout=10), 400, "`by`"),
        (httpx.get(f"{server.url}/stats?days=many", headers=server.headers(), timeout=10), 400, "days"),
        (_post(server, "/reindex", content=b"[]", headers={"Content-Type": "application/json"}), 400, "JSON object"),
        (_post(server, "/reindex", {"rebuild": "yes"}), 400, "`rebuild`: Input should be a valid boolean"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, response.text)
        assert words in response.json()["error"]["message"], response.text
        assert "Traceback" not in response.text
    # a body without Content-Length (chunked) is limited too
    chunked = _post(server, "/query", content=iter([b'{"question": "', b"x" * 25000, b'"}']),
                    headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413


def test_many_clients_at_once_all_get_the_same_answer(server: Server):
    def ask(_: int) -> tuple[int, str]:
        response = _post(server, "/query", {"question": QUESTION})
        return response.status_code, response.json().get("answer", response.text)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(ask, range(24)))
    assert {status for status, _ in results} == {200}
    assert len({answer for _, answer in results}) == 1


def test_reindex_runs_in_the_background_reports_and_refuses_a_second_writer(server: Server):
    from rag_app.store.lock import WriterLock

    corpus = Path(server.env["RAG_DATA"])
    (corpus / "storage.md").write_text("# Storage\n\nKeep the bike in a dry shed over winter, never in a damp cellar.\n")
    started = _post(server, "/reindex")
    assert started.status_code == 202, started.text
    job = started.json()
    report = _wait_for_job(server, job["url"])
    assert report["status"] == "done", report
    assert report["report"]["files"] == 7 and report["report"]["added"] >= 1
    answer = _post(server, "/query", {"question": "Where should I keep the bike over winter?"}).json()
    assert any(s["source"].endswith("storage.md") for s in answer["sources"])
    assert any(j["job"] == job["job"] for j in httpx.get(f"{server.url}/reindex", headers=server.headers(), timeout=10).json()["jobs"])

    # Another process (here: this test) holds the writer lock: 409 with a clear message.
    with WriterLock(Path(server.env["RAG_PERSIST_DIR"]) / "reindex.lock"):
        busy = _post(server, "/reindex", {"verify": True})
    assert busy.status_code == 409
    assert "Another reindex" in busy.json()["error"]["message"]
    assert _post(server, "/reindex", {"paths": ["/etc"]}).status_code == 400

    # A rebuild switches the server's queries to the new collection.
    rebuilt = _wait_for_job(server, _post(server, "/reindex", {"rebuild": True}).json()["url"])
    assert rebuilt["status"] == "done" and rebuilt["report"]["added"] == rebuilt["report"]["chunks"]
    again = _post(server, "/query", {"question": "Where should I keep the bike over winter?"})
    assert again.status_code == 200, again.text
    assert any(s["source"].endswith("storage.md") for s in again.json()["sources"])


def test_queries_keep_working_while_a_reindex_runs(server: Server):
    stop = threading.Event()
    statuses: list[int] = []

    def keep_asking() -> None:
        while not stop.is_set():
            statuses.append(_post(server, "/query", {"question": QUESTION}).status_code)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        job = _post(server, "/reindex", {"verify": True}).json()
        assert _wait_for_job(server, job["url"])["status"] == "done"
        time.sleep(0.3)
    finally:
        stop.set()
        asker.join(60)
    assert statuses and set(statuses) == {200}


def test_health_and_stats_report_the_ledger(server: Server):
    _post(server, "/query", {"question": QUESTION})
    health = httpx.get(f"{server.url}/health", headers=server.headers(), timeout=10).json()
    assert health["status"] == "ok" and health["default_model"] == "extractive"
    groups = httpx.get(f"{server.url}/stats?by=backend", headers=server.headers(), timeout=10).json()["groups"]
    by_backend = {g["backend"]: g for g in groups}
    assert by_backend["extractive"]["queries"] >= 1


def _wait_for_job(server: Server, url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{server.url}{url}", headers=server.headers(), timeout=10).json()
        if job["status"] in {"done", "failed"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"reindex job {url} did not finish")
