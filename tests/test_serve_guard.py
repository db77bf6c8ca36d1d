"""`rag-app serve` without a key, on loopback, as a hostile web page would try it: DNS rebinding,
cross-site writes, framing; and malformed bodies, which get a 400 naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from serving import Server, build_index, start_server

pytestmark = pytest.mark.slow

QUESTION = "How long is the warranty on an aluminium frame?"
APP = "https://app.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("guard")
    work, env = build_index(base, embeddings="fake")
    server = start_server(work, env, "--llm", "extractive", "--models", "extractive,fake",
                          "--allowed-hosts", "docs.internal", "--cors-origins", APP)
    yield server
    assert server.stop() == 0, server.output()[-2000:]
    assert "Traceback" not in server.output()


def _chat_body(content: object = QUESTION) -> dict:
    return {"model": "extractive", "messages": [{"role": "user", "content": content}]}


def test_a_foreign_host_is_refused_and_the_servers_own_names_are_served(server: Server):
    port = server.url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.7"):
        response = httpx.get(f"{server.url}/health", headers={"Host": host}, timeout=10)
        assert response.status_code == 421, (host, response.text)
        assert response.json()["error"]["code"] == "host_not_allowed"
        rebound = httpx.post(f"{server.url}/v1/chat/completions", json=_chat_body(), headers={"Host": host}, timeout=10)
        assert rebound.status_code == 421 and "choices" not in rebound.text
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", f"[::1]:{port}", f"docs.internal:{port}"):
        assert httpx.get(f"{server.url}/health", headers={"Host": host}, timeout=10).status_code == 200, host


def test_cross_site_writes_are_refused(server: Server):
    evil = {"Origin": "http://evil.example"}
    # The attack of the issue: a page posting a "simple" request (no preflight) to /reindex.
    attack = httpx.post(f"{server.url}/reindex", content=b'{"rebuild": true}',
                        headers={**evil, "Content-Type": "text/plain"}, timeout=10)
    assert attack.status_code == 403 and attack.json()["error"]["code"] == "cross_site"
    json_attack = httpx.post(f"{server.url}/reindex", json={"rebuild": True}, headers=evil, timeout=10)
    assert json_attack.status_code == 403
    form = httpx.post(f"{server.url}/reindex", data={"rebuild": "true"}, timeout=10)  # a form, no Origin
    assert form.status_code == 403 and form.json()["error"]["code"] == "content_type"
    plain = httpx.post(f"{server.url}/v1/chat/completions", content=b'{"messages": []}',
                       headers={"Content-Type": "text/plain"}, timeout=10)
    assert plain.status_code == 403
    # Without a key, asking spends the model: a foreign page may not do that either.
    asked = httpx.post(f"{server.url}/v1/chat/completions", json=_chat_body(), headers=evil, timeout=10)
    assert asked.status_code == 403 and "choices" not in asked.text
    assert httpx.post(f"{server.url}/query", json={"question": QUESTION}, headers={"Origin": "null"}, timeout=10).status_code == 403
    assert httpx.get(f"{server.url}/reindex", timeout=10).json()["jobs"] == []  # nothing was started

    # The server's own page, a listed origin and scripts (no Origin) may.
    own = httpx.post(f"{server.url}/v1/chat/completions", json=_chat_body(), headers={"Origin": server.url}, timeout=30)
    assert own.status_code == 200 and own.json()["sources"]
    listed = httpx.post(f"{server.url}/query", json={"question": QUESTION}, headers={"Origin": APP}, timeout=30)
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == APP
    assert httpx.post(f"{server.url}/query", json={"question": QUESTION}, timeout=30).status_code == 200


def test_cors_only_for_listed_origins_and_the_page_is_never_framed(server: Server):
    def preflight(origin: str) -> httpx.Response:
        return httpx.request("OPTIONS", f"{server.url}/v1/chat/completions", timeout=10, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})

    assert "access-control-allow-origin" not in preflight("http://evil.example").headers
    assert preflight(APP).headers["access-control-allow-origin"] == APP
    read = httpx.get(f"{server.url}/v1/models", headers={"Origin": "http://evil.example"}, timeout=10)
    assert "access-control-allow-origin" not in read.headers  # other pages cannot read answers
    page = httpx.get(f"{server.url}/", timeout=10)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_malformed_fields_are_400_naming_the_field(server: Server):
    cases = [
        (_chat_body([{"type": "text", "text": 5}]), "`messages[0].content[0].text`"),
        (_chat_body(5), "`messages[0].content`"),
        ({"messages": [{"content": "no role"}]}, "`messages[0].role`"),
        ({"messages": "hi"}, "`messages`"),
        ({**_chat_body(), "stream": "yes"}, "`stream`"),
        ({**_chat_body(), "stream_options": {"include_usage": 1}}, "`stream_options.include_usage`"),
        ({**_chat_body(), "k": 1000}, "`k`"),
        ({**_chat_body(), "chain": "refine"}, "`chain`"),
        ({**_chat_body(), "model": ["extractive"]}, "`model`"),
    ]
    for body, field in cases:
        response = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert field in error["message"] and error["type"] == "invalid_request_error", (field, error)
    ok = httpx.post(f"{server.url}/v1/chat/completions", timeout=30, json=_chat_body(
        [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": "data:,"}}]))
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] and ok.json()["sources"]
