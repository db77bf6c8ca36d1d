"""A request's work on a thread of its own, that its client's leaving or a shutdown can cut short.

Requests for a slow model (one that takes turns) never hold a worker of the shared
thread pool: each runs on a daemon thread of its own, counted by
:meth:`RagService.admit` (so their number is bounded), while the event loop
waits for the first of: the result, the client leaving, the shutdown deadline.
The latter two set the request's cancel event: a request still waiting for the
model's turn leaves the queue without running; one generating finishes in the
background and its answer is dropped.

:class:`Shutdown` is the server's stop: queues close at once (their waiters get a
JSON 503), and requests still running at ``--shutdown-timeout`` are answered 503.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable

from starlette.requests import Request

from chains.queueing import CANCEL
from rag_app.serve.service import RagService


class Cut(Exception):
    """The request was cut short: its client left (``left``) or the server stopped."""

    def __init__(self, left: bool) -> None:
        super().__init__("client left" if left else "shutting down")
        self.left = left


class Shutdown:
    """The server's stop: :meth:`begin` closes the queues and arms the deadline for running requests."""

    def __init__(self, service: RagService, timeout: float) -> None:
        self.service = service
        self.timeout = timeout
        self.deadline: asyncio.Event | None = None

    def event(self) -> asyncio.Event:
        if self.deadline is None:
            self.deadline = asyncio.Event()
        return self.deadline

    def begin(self) -> None:
        """Called on the event loop when SIGTERM/SIGINT arrives."""
        self.service.begin_shutdown()
        asyncio.get_running_loop().call_later(self.timeout, self.event().set)


async def _disconnected(request: Request) -> None:
    """Returns once the client has closed the connection (the body was read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class Work:
    """``fn(emit)`` on a daemon thread with ``CANCEL`` set; its events cross to the loop through a queue.

    An exception of ``fn`` becomes an ``error`` event; ``done()`` runs on the thread at its end.
    """

    def __init__(self, fn: Callable[[Callable[[str, Any], None]], None], name: str,
                 done: Callable[[], None] = lambda: None) -> None:
        self.cancel = threading.Event()
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def emit(kind: str, value: Any) -> None:
            try:
                self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
            except RuntimeError:  # the loop is gone (the server stopped): nobody is listening
                pass

        def target() -> None:
            CANCEL.set(self.cancel)
            try:
                fn(emit)
            except BaseException as exc:  # noqa: BLE001 - handed to the request, which answers with it
                emit("error", exc)
            finally:
                done()

        threading.Thread(target=target, name=name, daemon=True).start()

    async def next(self, request: Request | None, shutdown: Shutdown) -> tuple[str, Any]:
        """The next event; :class:`Cut` (and the cancel event set) when the client leaves or time is up."""
        getter = asyncio.ensure_future(self.events.get())
        watchers = [asyncio.ensure_future(shutdown.event().wait())]
        if request is not None:
            watchers.append(asyncio.ensure_future(_disconnected(request)))
        try:
            done, _ = await asyncio.wait([getter, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in watchers:
                task.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        self.cancel.set()
        raise Cut(left=request is not None and watchers[1] in done)


async def run(fn: Callable[[], Any], request: Request, shutdown: Shutdown, name: str,
              done: Callable[[], None] = lambda: None) -> Any:
    """``fn()``'s result, computed on a thread of its own; :class:`Cut` as for :meth:`Work.next`.

    ``done()`` is called on that thread when it ends (also when the request was cut before).
    """

    def body(emit: Callable[[str, Any], None]) -> None:
        emit("result", fn())

    work = Work(body, name, done)
    kind, value = await work.next(request, shutdown)
    if kind == "error":
        raise value
    return value


async def events_until_cut(work: Work, shutdown: Shutdown) -> AsyncIterator[tuple[str, Any]]:
    """A streamed answer's events after the first; a ``cut`` event when the server stops first.

    The client leaving ends the response's iteration (Starlette cancels it), which sets ``cancel``.
    """
    try:
        while True:
            try:
                kind, value = await work.next(None, shutdown)
            except Cut:
                yield "cut", None
                return
            yield kind, value
            if kind in ("done", "error"):
                return
    finally:
        work.cancel.set()
