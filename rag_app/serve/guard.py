"""Who may talk to the server: the Host allow-list, cross-site requests, the API key.

A web page in the user's browser can send requests to ``127.0.0.1`` too. Three
checks keep such pages out, key or no key:

- **Host**: a request whose ``Host`` is not one of the server's own names
  (``localhost``, ``127.0.0.1``, ``[::1]``, the address it listens on, and
  ``--allowed-hosts``) gets 421: a DNS-rebinding page reaches the server under
  its own name, which is not on the list.
- **Cross-site writes**: a ``POST`` that carries a foreign ``Origin`` (not this
  server, not one of ``--cors-origins``) or a body whose ``Content-Type`` is not
  JSON gets 403 (HTML forms and "simple" cross-site requests cannot send JSON).
- **CORS** is off unless ``--cors-origins`` names origins, so other pages cannot
  read answers either.

With ``RAG_API_KEY`` every route but the page needs ``Authorization: Bearer KEY``
(compared in constant time).
"""

from __future__ import annotations

import hmac
from typing import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag_app.serve.shapes import error_body

#: Paths anyone may read: the page holds no data and asks for the key itself.
OPEN_PATHS = frozenset({"/", "/favicon.ico"})
#: The server's own names, whatever address it listens on.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
JSON_TYPES = ("application/json",)
#: Sent with every response: no sniffing, never in a frame.
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    """An error response in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(message, kind, code), status_code=status, headers=headers or None)


def host_name(host: str) -> str:
    """``"Example.COM:8000"`` → ``"example.com"``; ``"[::1]:8000"`` → ``"[::1]"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a request's ``Host`` may carry; ``*`` among ``extra`` allows any."""
    names = set(LOCAL_NAMES)
    bound = bound.strip().lower()
    names.add(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    names.update(host_name(h) for h in extra if h.strip())
    return frozenset(names)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class GuardMiddleware:
    """Host allow-list, cross-site write refusal and security headers (see the module docstring)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], cors_origins: Iterable[str] = (),
                 check_origin_of_reads: bool = True) -> None:
        self.app = app
        self.hosts = hosts
        self.cors_origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        #: Without a key, chat and query are writes too (they spend the model); with one, only /reindex.
        self.check_origin_of_reads = check_origin_of_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        host = _header(scope, b"host")
        if host is None:
            return error(400, "The request has no Host header", code="host_missing")
        if "*" not in self.hosts and host_name(host) not in self.hosts:
            return error(421, f"Host {host_name(host)!r} is not a name of this server: connect to it by its own "
                              "address, or start it with --allowed-hosts NAME", code="host_not_allowed")
        if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            return None
        origin = _header(scope, b"origin")
        guarded = scope["path"] == "/reindex" or self.check_origin_of_reads
        if guarded and origin is not None and not self.same_site(origin, host):
            return error(403, f"Cross-site request from {origin} refused: only this server's page"
                              " (or an origin listed with --cors-origins) may send it", code="cross_site")
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        length = _header(scope, b"content-length")
        has_body = _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() != "0")
        if (content_type or has_body) and not (content_type in JSON_TYPES or content_type.endswith("+json")):
            shown = content_type or "none"
            return error(403, f"Content-Type {shown} refused: send the body as JSON with "
                              "`Content-Type: application/json`", code="content_type")
        return None

    def same_site(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower()
        if origin.rstrip("/") in self.cors_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


class ApiKeyMiddleware:
    """``Authorization: Bearer KEY`` on every route but the page; compared in constant time."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.key or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            await self.app(scope, receive, send)
            return
        message = (
            "Missing API key: send `Authorization: Bearer KEY` (the server's RAG_API_KEY)"
            if not given
            else "Wrong API key: send `Authorization: Bearer KEY` with the server's RAG_API_KEY"
        )
        await error(401, message, "invalid_request_error", "invalid_api_key")(scope, receive, send)
