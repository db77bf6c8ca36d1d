"""The HTTP layer of ``rag-app serve``: FastAPI routes over a :class:`RagService`.

Routes (all but ``/`` need ``Authorization: Bearer KEY`` when a key is set)::

    GET  /                      the web page (one static file, no CDN)
    POST /v1/chat/completions   OpenAI-compatible; ``sources`` on the completion / last chunk
    GET  /v1/models             the backends ``model`` may name
    POST /query                 ``query --json`` in and out
    POST /reindex               start a reindex (202; 409 while one runs)
    GET  /reindex[/{job}]       the jobs and their reports
    GET  /health, /stats        liveness and queue depths; the query ledger (as ``stats --json``)

Errors are JSON in OpenAI's shape ``{"error": {"message", "type", "code"}}``, never a traceback.
Requests for a slow model run on threads of their own (:mod:`rag_app.serve.work`); the
rest of the work (fast backends, ``/stats``) runs in the shared thread pool, so it never
waits behind a slow model's queue. Who may send what: :mod:`rag_app.serve.guard`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from importlib import resources
from typing import Any, AsyncIterator, Callable, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from chains.queueing import CANCEL, Cancelled, QueueClosed, QueueFull
from rag_app.errors import ConfigError, IndexMismatch, IndexMissing, LLMError, LockBusy, RagError
from rag_app.serve import shapes
from rag_app.serve.bodies import ChatRequest, QueryRequest, ReindexRequest, problems
from rag_app.serve.guard import ApiKeyMiddleware, GuardMiddleware, allowed_hosts, error
from rag_app.serve.service import RagService, question_too_long
from rag_app.serve.work import Cut, Shutdown, Work, events_until_cut, run

log = logging.getLogger("rag_app.serve")

#: The page may talk to this server only: no CDN, no other origin, never in a frame.
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Header with the sources' places, for clients that keep only headers (ChatOpenAI's
#: ``include_response_headers=True`` puts them in ``response_metadata["headers"]``).
SOURCES_HEADER = "X-RAG-Sources"
#: Bytes of that header at most: HTTP clients refuse header blocks past ~16 KiB.
SOURCES_HEADER_BYTES = 8000
Body = TypeVar("Body", bound=BaseModel)


class ApiError(Exception):
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers


def _status_of(exc: BaseException) -> tuple[int, str, str]:
    if isinstance(exc, LockBusy):
        return 409, "conflict", "reindex_running"
    if isinstance(exc, (IndexMissing, IndexMismatch)):
        return 503, "index_unavailable", "index_unavailable"
    if isinstance(exc, LLMError):
        return 502, "backend_error", "backend_error"
    if isinstance(exc, ConfigError):
        return 400, "invalid_request_error", "invalid_request"
    if isinstance(exc, QueueFull):
        return 503, "server_error", "queue_full"
    if isinstance(exc, (QueueClosed, Cut)):
        return 503, "server_error", "shutting_down"
    if isinstance(exc, Cancelled):
        return 503, "server_error", "cancelled"
    if isinstance(exc, TimeoutError):
        return 503, "server_error", "queue_timeout"
    return 500, "server_error", "error"


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, Cut):
        return ("The server is shutting down: this answer was not finished within its --shutdown-timeout"
                if not exc.left else "The client left")
    if isinstance(exc, (RagError, QueueFull, QueueClosed, Cancelled, TimeoutError)):
        return str(exc)
    return f"Internal error ({type(exc).__name__}); the server log has the details"


def _error_response(exc: BaseException) -> JSONResponse:
    status, kind, code = _status_of(exc)
    headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if isinstance(exc, QueueFull) else None
    if status == 500:
        log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return error(status, _message_of(exc), kind, code, headers)


async def read_json(request: Request, limit: int, model: type[Body], empty_ok: bool = False) -> Body:
    """The body as ``model``; 413 past ``limit`` bytes, 400 naming the field that is wrong."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body of {declared} bytes is over this server's limit of {limit} (RAG_MAX_REQUEST_BYTES)")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise ApiError(413, f"Request body is over this server's limit of {limit} bytes (RAG_MAX_REQUEST_BYTES)")
    if empty_ok and not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(bytes(body) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The request body is not valid JSON ({exc}): send a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, f"Invalid request: {problems(exc)}") from None


def _question(service: RagService, text: str) -> str:
    if not text.strip():
        raise ApiError(400, "`question` must be a non-empty string")
    too_long = question_too_long(text, service.app.settings.max_question_chars)
    if too_long:
        raise ApiError(413, too_long)
    return text.strip()


def _split(body: ChatRequest) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the earlier ``(question, answer)`` turns."""
    try:
        return shapes.split_messages([{"role": m.role, "content": m.text()} for m in body.messages])
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from None


def sources_header(sources: list[dict[str, Any]]) -> str:
    """The sources' places as compact ASCII JSON, as many as fit in :data:`SOURCES_HEADER_BYTES`."""
    keep = ("source", "start_line", "end_line", "chunk_id", "score")
    places: list[dict[str, Any]] = []
    for number, source in enumerate(sources, 1):
        place = {"n": number, **{k: source[k] for k in keep if source.get(k) is not None}}
        if len(json.dumps([*places, place], separators=(",", ":"))) > SOURCES_HEADER_BYTES:
            break
        places.append(place)
    return json.dumps(places, separators=(",", ":"))


def create_app(service: RagService, *, host: str = "127.0.0.1", extra_hosts: tuple[str, ...] = (),
               cors_origins: tuple[str, ...] = (), shutdown: Shutdown | None = None) -> FastAPI:
    """The FastAPI application serving ``service`` on ``host`` (see :mod:`rag_app.serve.guard`)."""
    settings = service.app.settings
    limit = settings.max_request_bytes
    stop = shutdown or Shutdown(service, 30.0)

    app = FastAPI(title="rag-app", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service, app.state.shutdown = service, stop
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(GuardMiddleware, hosts=allowed_hosts(host, extra_hosts), cors_origins=cors_origins,
                       check_origin_of_reads=not settings.api_key)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message, exc.kind, exc.code, exc.headers)

    for kind in (RagError, QueueFull, QueueClosed, Cancelled, Cut):
        app.add_exception_handler(kind, lambda _request, exc: _error_response(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        found = "; ".join(f"`{'.'.join(str(p) for p in e.get('loc', ()) if p != 'query')}`: {e.get('msg')}" for e in exc.errors())
        return error(400, f"Invalid request: {found}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), "invalid_request_error", "not_found" if exc.status_code == 404 else None)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return _error_response(exc)

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("rag_app.serve").joinpath("web/index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        job = service.running_job
        return {
            "status": "stopping" if service.stopping else "ok",
            "models": service.models,
            "default_model": service.default_model,
            "queued": service.queued(),
            "queues": service.queue_depth(),
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

    lanes = anyio.CapacityLimiter(service.lanes)

    async def answer(request: Request, model: str, ask: Callable[[], Any]) -> Any:
        """``ask()`` in the shared pool (fast backends; CPU-bound ones a few at a time), or on a
        thread of its own in ``model``'s turn."""
        if service.cpu_bound(model):
            return await anyio.to_thread.run_sync(ask, limiter=lanes)
        if not service.slow(model):
            return await run_in_threadpool(ask)
        release = service.admit(model)  # QueueFull, QueueClosed: 503 before any work
        try:
            return await run(ask, request, stop, f"answer-{model}", done=release)
        except BaseException:
            release()  # the thread may go on generating; the next waiter need not wait for it to be counted
            raise

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        body = await read_json(request, limit, ChatRequest)
        question, history = _split(body)
        question = _question(service, question)
        model = service.resolve_model(body.model)
        options = body.options()
        if not body.stream:
            result = await answer(request, model, lambda: service.ask(question, model=model, history=history, **options))
            completion = shapes.completion(result, model)
            return JSONResponse(completion, headers={SOURCES_HEADER: sources_header(completion["sources"])})
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return await stream(request, model, lambda: service.start(question, model=model, history=history, **options), include_usage)

    async def stream(request: Request, model: str, start: Callable[[], Any], include_usage: bool) -> Any:
        """Retrieve, then (for a slow model) wait for its turn before answering 200: until the
        model writes, an error is still a JSON error response, and a queued request a JSON 503."""

        def produce(emit: Callable[[str, Any], None]) -> None:
            streaming = start()
            emit("sources", streaming.sources)
            for piece in service.pieces(streaming, model, CANCEL.get()):
                emit("piece", piece)
            emit("done", streaming.result)

        release = service.admit(model)
        work = Work(produce, f"stream-{model}", done=release)
        kind, value = await work.next(request, stop)
        if kind == "error":
            raise value
        sources, first = value, None
        if service.slow(model):  # answer 200 once the model writes: until then errors are plain JSON
            first = await work.next(request, stop)
            if first[0] == "error":
                raise first[1]
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                   SOURCES_HEADER: sources_header([s.to_dict() for s in sources])}
        return StreamingResponse(_sse(work, stop, first, model, include_usage),
                                 media_type="text/event-stream", headers=headers)

    @app.post("/query")
    async def query(request: Request) -> dict[str, Any]:
        body = await read_json(request, limit, QueryRequest)
        question = _question(service, body.question)
        model = service.resolve_model(body.llm)
        if body.llm and model.lower() != body.llm.lower():
            raise ApiError(400, f"Backend {body.llm!r} is not served here; choose one of: {', '.join(service.models)}")
        options = body.options()
        result = await answer(request, model, lambda: service.ask(question, model=model, **options))
        return result.to_dict()

    @app.post("/reindex", status_code=202)
    async def reindex(request: Request) -> dict[str, Any]:
        try:
            body = await read_json(request, limit, ReindexRequest, empty_ok=True)
        except ApiError as exc:
            raise ApiError(400, f"{exc.message}. POST /reindex takes {{\"verify\": bool, \"rebuild\": bool}}; "
                                "it indexes the server's RAG_DATA paths") if exc.status == 400 else exc from None
        job = await run_in_threadpool(service.start_reindex, body.verify, body.rebuild)
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
        if service.ledger is not None:  # the answers given so far count
            await run_in_threadpool(service.ledger.flush)
        rows = await run_in_threadpool(ledger.rows, since)
        return {"groups": summarize(rows, keys)}

    return app


async def _sse(work: Work, stop: Shutdown, first: tuple[str, Any] | None, model: str,
               include_usage: bool) -> AsyncIterator[str]:
    """Server-sent ``chat.completion.chunk`` events; the last carries the sources, then ``[DONE]``.

    Generation runs on the work's thread; a client that leaves (Starlette then stops this
    iteration) sets its cancel event, which ends generation after the current piece.
    """
    completion_id, created = shapes.new_id(), int(time.time())

    def event(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data)}\n\n"

    async def following() -> AsyncIterator[tuple[str, Any]]:
        if first is not None:
            yield first
        async for item in events_until_cut(work, stop):
            yield item

    try:
        yield event(shapes.chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
        async for kind, value in following():
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
            elif kind in ("error", "cut"):
                failure = value if kind == "error" else Cut(left=False)
                if kind == "error" and _status_of(failure)[0] == 500:
                    log.error("error while streaming", exc_info=(type(failure), failure, failure.__traceback__))
                _, kind_name, code = _status_of(failure)
                yield event(shapes.error_body(_message_of(failure), kind_name, code))
                yield "data: [DONE]\n\n"
                return
    finally:
        work.cancel.set()
