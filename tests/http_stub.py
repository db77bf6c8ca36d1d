"""A small HTTP server on loopback that speaks just enough OpenAI / Ollama protocol.

Tests script its replies (status codes, slow answers, canned completions) and
read back every request it saw, over real sockets.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON; None: a protocol-correct success for the path
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def vector(text: str, dimension: int = 16) -> list[float]:
    """Deterministic bag-of-words embedding: texts sharing words are close."""
    out = [0.0] * dimension
    for word in text.lower().split():
        digest = hashlib.md5(word.strip(".,?!").encode()).digest()
        out[digest[0] % dimension] += 1.0
    return out if any(out) else [1.0] + [0.0] * (dimension - 1)


#: The token counts a chat completion reports unless the test asks for others.
USAGE = {"prompt_tokens": 1, "completion_tokens": 1}


class StubServer:
    """``completion``: what every chat answers; ``usage``: the token counts a (non-streamed) chat reports."""

    def __init__(self, completion: str = "Stub answer [1].", usage: dict[str, int] | None = None) -> None:
        self.completion = completion
        self.usage = dict(usage or USAGE)
        self.plan: list[Reply] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, json body)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                self._handle(json.loads(raw or b"{}"))

            def _handle(self, body: dict[str, Any]) -> None:
                with stub._lock:
                    stub.requests.append((self.command, self.path, body))
                    reply = stub.plan.pop(0) if stub.plan else Reply()
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    if reply.status != 200 or reply.body is not None:
                        self._json(reply.status, reply.body if reply.body is not None else {}, reply.headers)
                    else:
                        stub._success(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, content_type: str, lines: list[bytes]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for line in lines:
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- protocol-correct successes ------------------------------------------------------

    def _success(self, h: Any, body: dict[str, Any]) -> None:
        path = h.path.split("?")[0]
        words = self.completion.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                events = [
                    {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", "m"),
                     "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                    for p in pieces
                ]
                lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
                h._stream("text/event-stream", lines)
                return
            h._json(200, {
                "id": "c1", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.completion}, "finish_reason": "stop"}],
                "usage": {**self.usage, "total_tokens": sum(self.usage.values())},
            })
        elif path.endswith("/embeddings"):
            inputs = body.get("input") or []
            inputs = [inputs] if isinstance(inputs, str) else inputs
            h._json(200, {"object": "list", "model": body.get("model"), "usage": {"prompt_tokens": 1, "total_tokens": 1},
                          "data": [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(inputs)]})
        elif path == "/api/chat":
            model = body.get("model", "m")
            if body.get("stream", True):
                lines = [json.dumps({"model": model, "created_at": "2026-01-01T00:00:00Z",
                                     "message": {"role": "assistant", "content": p}, "done": False}).encode() + b"\n"
                         for p in pieces]
                lines.append(json.dumps({"model": model, "created_at": "2026-01-01T00:00:00Z",
                                         "message": {"role": "assistant", "content": ""}, "done": True,
                                         "done_reason": "stop"}).encode() + b"\n")
                h._stream("application/x-ndjson", lines)
                return
            h._json(200, {"model": model, "created_at": "2026-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": self.completion}, "done": True, "done_reason": "stop"})
        elif path == "/api/embed":
            inputs = body.get("input") or []
            inputs = [inputs] if isinstance(inputs, str) else inputs
            h._json(200, {"model": body.get("model"), "embeddings": [vector(t) for t in inputs]})
        else:
            h._json(404, {"error": {"message": f"no route {path}"}})

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self) -> list[str]:
        return [path.split("?")[0] for _, path, _ in self.requests]

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
