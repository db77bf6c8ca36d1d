"""The HTTP layer of ``rag-app serve``: FastAPI routes over a :class:`RagService`.

Routes (all but ``/`` need ``Authorization: Bearer KEY`` when a key is set)::

    GET  /                      the web page (one static file, no CDN)
    POST /v1/chat/completions   OpenAI-compatible; ``sources`` on the completion / last chunk
    GET  /v1/models             the backends ``model`` may name
    POST /query                 ``query --json`` in and out
    POST /reindex               start a reindex (202; 409 while one runs)
    GET  /reindex[/{job}]       the jobs and their reports
    GET  /health, /stats        liveness; the query ledger (as ``stats --json``)

Errors are JSON in OpenAI's shape ``{"error": {"message", "type", "code"}}``, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from rag_app.errors import ConfigError, IndexMismatch, IndexMissing, LLMError, LockBusy, RagError
from rag_app.serve import shapes
from rag_app.serve.service import RagService, question_too_long

log = logging.getLogger("rag_app.serve")

#: Paths anyone may read: the page holds no data and asks for the key itself.
OPEN_PATHS = frozenset({"/", "/favicon.ico"})
#: The page may talk to this server only: no CDN, no other origin.
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
RETRIEVAL_FIELDS = ("k", "mmr", "hybrid", "fetch_k", "min_score", "where", "chain")
#: Worker threads for blocking calls. Requests waiting for the local model's turn each hold one;
#: with AnyIO's default of 40, a queue that long would hold up every other request too.
WORKER_THREADS = 256


class ApiError(Exception):
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _status_of(exc: RagError) -> tuple[int, str, str]:
    if isinstance(exc, LockBusy):
        return 409, "conflict", "reindex_running"
    if isinstance(exc, (IndexMissing, IndexMismatch)):
        return 503, "index_unavailable", "index_unavailable"
    if isinstance(exc, LLMError):
        return 502, "backend_error", "backend_error"
    if isinstance(exc, ConfigError):
        return 400, "invalid_request_error", "invalid_request"
    return 500, "server_error", "error"


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(shapes.error_body(message, kind, code), status_code=status, headers=headers)


class ApiKeyMiddleware:
    """``Authorization: Bearer KEY`` on every route but the page; compared in constant time."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.key or scope["path"] in OPEN_PATHS:
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
        await _error(401, message, "invalid_request_error", "invalid_api_key")(scope, receive, send)


async def read_json(request: Request, limit: int, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``limit`` bytes, 400 when it is not a JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body of {declared} bytes is over this server's limit of {limit} (RAG_MAX_REQUEST_BYTES)")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise ApiError(413, f"Request body is over this server's limit of {limit} bytes (RAG_MAX_REQUEST_BYTES)")
    if empty_ok and not body.strip():
        return {}
    try:
        data = json.loads(bytes(body) or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON ({exc}): send a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return data


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """Retrieval and chain options of a request, type-checked."""
    kinds: dict[str, tuple[type, ...]] = {
        "k": (int,), "fetch_k": (int,), "min_score": (int, float), "mmr": (bool,), "hybrid": (bool,),
        "where": (str,), "chain": (str,),
    }
    options: dict[str, Any] = {}
    for name in RETRIEVAL_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds[name]) or (isinstance(value, bool) and bool not in kinds[name]):
            raise ApiError(400, f"`{name}` must be of type {' or '.join(t.__name__ for t in kinds[name])}")
        if name in ("k", "fetch_k") and not 1 <= value <= 100:
            raise ApiError(400, f"`{name}` must be between 1 and 100")
        if name == "chain" and value not in ("stuff", "map_reduce"):
            raise ApiError(400, "`chain` must be stuff or map_reduce")
        options[name] = value
    return options


def _question(service: RagService, text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "`question` must be a non-empty string")
    too_long = question_too_long(text, service.app.settings.max_question_chars)
    if too_long:
        raise ApiError(413, too_long)
    return text.strip()


def create_app(service: RagService) -> FastAPI:
    """The FastAPI application serving ``service``."""
    settings = service.app.settings
    limit = settings.max_request_bytes

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield

    app = FastAPI(title="rag-app", version="1", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.code)

    @app.exception_handler(RagError)
    async def _rag_error(_request: Request, exc: RagError) -> JSONResponse:
        status, kind, code = _status_of(exc)
        return _error(status, str(exc), kind, code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return _error(400, f"Invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), "invalid_request_error", "not_found" if exc.status_code == 404 else None)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, f"Internal error ({type(exc).__name__}); the server log has the details", "server_error")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("rag_app.serve").joinpath("web/index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        job = service.running_job
        return {
            "status": "ok",
            "models": service.models,
            "default_model": service.default_model,
            "queued": service.queued(),
            "reindex": job.id if job else None,
            "uptime_s": round(time.time() - service.started, 1),
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(service.started)
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": created, "owned_by": "rag-app"} for m in service.models],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        body = await read_json(request, limit)
        question, history = shapes.split_messages(body.get("messages"))
        question = _question(service, question)
        model = service.resolve_model(body.get("model") if isinstance(body.get("model"), str) else None)
        options = _options(body)
        if not body.get("stream"):
            answer = await run_in_threadpool(service.ask, question, model=model, history=history, **options)
            return shapes.completion(answer, model)
        streaming = await run_in_threadpool(service.start, question, model=model, history=history, **options)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if isinstance(body.get("stream_options"), dict) else False
        return StreamingResponse(
            _sse(service, streaming, model, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/query")
    async def query(request: Request) -> dict[str, Any]:
        body = await read_json(request, limit)
        question = _question(service, body.get("question"))
        model = service.resolve_model(body.get("llm") if isinstance(body.get("llm"), str) else None)
        if body.get("llm") and model.lower() != str(body["llm"]).lower():
            raise ApiError(400, f"Backend {body['llm']!r} is not served here; choose one of: {', '.join(service.models)}")
        answer = await run_in_threadpool(service.ask, question, model=model, **_options(body))
        return answer.to_dict()

    @app.post("/reindex", status_code=202)
    async def reindex(request: Request) -> dict[str, Any]:
        body = await read_json(request, limit, empty_ok=True)
        if set(body) - {"verify", "rebuild"}:
            raise ApiError(400, "POST /reindex takes {\"verify\": bool, \"rebuild\": bool}; it indexes the server's RAG_DATA paths")
        job = await run_in_threadpool(service.start_reindex, bool(body.get("verify")), bool(body.get("rebuild")))
        return {**job.to_dict(), "url": f"/reindex/{job.id}"}

    @app.get("/reindex")
    async def reindex_jobs() -> dict[str, Any]:
        return {"jobs": [job.to_dict() for job in service.jobs()]}

    @app.get("/reindex/{job_id}")
    async def reindex_job(job_id: str) -> dict[str, Any]:
        job = service.job(job_id)
        if job is None:
            raise ApiError(404, f"No reindex job {job_id!r} (this server keeps the last 50)", code="not_found")
        return job.to_dict()

    @app.get("/stats")
    async def stats(days: int | None = None, by: str = "day,backend") -> Any:
        from rag_app.measure.ledger import Ledger, summarize

        keys = tuple(part.strip() for part in by.split(",") if part.strip())
        if not keys or set(keys) - {"day", "backend"}:
            raise ApiError(400, "`by` takes day, backend or day,backend")
        ledger = Ledger(settings.persist_path / Ledger.FILE)
        since = time.time() - days * 86400 if days else None
        rows = await run_in_threadpool(ledger.rows, since)
        return {"groups": summarize(rows, keys)}

    return app


async def _sse(service: RagService, streaming: Any, model: str, include_usage: bool) -> AsyncIterator[str]:
    """Server-sent ``chat.completion.chunk`` events; the last carries the sources, then ``[DONE]``.

    Generation runs on its own thread (taking the model's turn); pieces cross to the
    event loop through a queue. A client that leaves sets ``cancel``, which ends the
    generation after the current piece and frees the model for the next request.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancel = threading.Event()

    def emit(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def produce() -> None:
        try:
            for piece in service.pieces(streaming, model, cancel):
                emit("piece", piece)
            emit("done", streaming.result)
        except RagError as exc:
            emit("error", exc)
        except Exception as exc:
            log.exception("error while streaming")
            emit("error", exc)

    completion_id, created = shapes.new_id(), int(time.time())

    def event(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data)}\n\n"

    thread = threading.Thread(target=produce, name="generate", daemon=True)
    thread.start()
    try:
        yield event(shapes.chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield event(shapes.chunk(completion_id, created, model, {"content": value}))
            elif kind == "done":
                if value is None:  # cancelled
                    return
                last = shapes.chunk(completion_id, created, model, {}, finish="stop")
                last.update(shapes.rag_fields(value))
                yield event(last)
                if include_usage:
                    usage = {**shapes.chunk(completion_id, created, model, {}), "choices": [], "usage": shapes.openai_usage(value)}
                    yield event(usage)
                yield "data: [DONE]\n\n"
                return
            else:
                if isinstance(value, RagError):
                    _, kind_name, code = _status_of(value)
                    message = str(value)
                else:
                    kind_name, code, message = "server_error", "error", f"Internal error ({type(value).__name__}); the server log has the details"
                yield event(shapes.error_body(message, kind_name, code))
                yield "data: [DONE]\n\n"
                return
    finally:
        cancel.set()

