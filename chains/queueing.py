"""One queue per model that cannot generate for two callers at once.

A llama.cpp context or a transformers model decodes for one caller at a time;
two threads in it at once crash the process. :class:`ModelQueue` gives callers
turns in arrival order, from threads (:meth:`ModelQueue.turn`) and from event
loops (:meth:`ModelQueue.aturn`) alike, on the same queue:

- first come, first served (a caller that just finished cannot jump the queue);
- bounded: with ``max_waiting`` callers already waiting, a new one gets
  :class:`QueueFull` at once, with ``retry_after`` estimated from recent turns;
- cancellable: a waiter whose ``cancel`` event is set, whose ``timeout`` passes, or
  whose asyncio task is cancelled leaves the queue without running;
- :meth:`ModelQueue.close` refuses new turns and wakes every waiter with
  :class:`QueueClosed`; the running turn finishes.

A turn may be given back from another thread than the one that took it (a
streamed answer's generator may be resumed on any thread). Turns are not
re-entrant: a holder asking the same queue again waits for itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import threading
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, TypeVar

if TYPE_CHECKING:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
    from langchain_core.outputs import ChatGenerationChunk

#: How often a waiter looks at its ``cancel`` event (a ``threading.Event`` cannot wake it).
POLL_S = 0.02
#: Recent turn durations kept for ``QueueFull.retry_after``.
RECENT = 20
#: ``retry_after`` before any turn has finished.
DEFAULT_TURN_S = 1.0

T = TypeVar("T")

#: The cancel event of the request the current thread works for (its client left, or the server
#: stops): a server sets it around each request; a model that generates token by token checks it
#: between tokens and ends with :class:`Cancelled` (the local llama.cpp model does).
CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("chains_cancel", default=None)


class QueueFull(RuntimeError):
    """Too many callers wait already; ``retry_after`` (seconds) estimates when a turn frees up."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueClosed(RuntimeError):
    """The queue was closed (shutdown) before or while the caller waited."""


class Cancelled(RuntimeError):
    """The caller's cancel event was set while it waited; it never ran."""


class _Ticket:
    """One waiter: woken when granted the turn or when the queue closes."""

    __slots__ = ("granted", "closed", "_wake")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.granted = False
        self.closed = False
        self._wake = wake

    def wake(self) -> bool:
        """Tell the waiter; ``False`` when it can no longer hear (its event loop is gone)."""
        try:
            self._wake()
            return True
        except RuntimeError:  # loop.call_soon_threadsafe on a closed loop
            return False


class ModelQueue:
    """Fair, bounded, cancellable turns at one model (see the module docstring)."""

    def __init__(self, name: str, max_waiting: int | None = None) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiters: deque[_Ticket] = deque()
        self._running = False
        self._closed = False
        self._since = 0.0
        self._recent: deque[float] = deque(maxlen=RECENT)

    def __repr__(self) -> str:
        return f"ModelQueue({self.name!r}, running={self.running}, waiting={self.waiting})"

    @property
    def waiting(self) -> int:
        """Callers waiting for a turn now."""
        return len(self._waiters)

    @property
    def running(self) -> int:
        """1 while a caller holds the turn, else 0."""
        return int(self._running)

    @property
    def closed(self) -> bool:
        return self._closed

    def retry_after(self) -> float:
        """Seconds until a caller arriving now would likely start: turns ahead × a recent turn."""
        with self._lock:
            return self._estimate()

    # --- threads -------------------------------------------------------------------------

    @contextmanager
    def turn(self, cancel: threading.Event | None = None, timeout: float | None = None) -> Iterator[None]:
        """Hold the model for the ``with`` block, after every caller that came earlier.

        Raises :class:`QueueFull` at once, :class:`QueueClosed`, :class:`Cancelled` when
        ``cancel`` is set while waiting, or :class:`TimeoutError` after ``timeout`` seconds.
        """
        event = threading.Event()
        ticket = self._enter(event.set, cancel)
        if not ticket.granted:
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while not (ticket.granted or ticket.closed):
                    step = POLL_S if cancel is not None else None
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        step = left if step is None else min(step, left)
                    event.wait(step)
                    if cancel is not None and cancel.is_set():
                        break
            except BaseException:  # KeyboardInterrupt while waiting: leave the queue
                self._leave(ticket)
                raise
            self._settle(ticket, cancel)
        try:
            yield
        finally:
            self._release()

    # --- event loops ---------------------------------------------------------------------

    @asynccontextmanager
    async def aturn(self, cancel: threading.Event | None = None, timeout: float | None = None) -> AsyncIterator[None]:
        """:meth:`turn` for async code; cancelling the awaiting task leaves the queue."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, future)

        ticket = self._enter(wake, cancel)
        if not ticket.granted:
            deadline = None if timeout is None else loop.time() + timeout
            try:
                while not (ticket.granted or ticket.closed):
                    step = POLL_S if cancel is not None else None
                    if deadline is not None:
                        left = deadline - loop.time()
                        if left <= 0:
                            break
                        step = left if step is None else min(step, left)
                    await asyncio.wait([future], timeout=step)
                    if cancel is not None and cancel.is_set():
                        break
            except BaseException:  # the task was cancelled while it waited
                self._leave(ticket)
                raise
            self._settle(ticket, cancel)
        try:
            yield
        finally:
            self._release()

    # --- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        """Refuse new turns and wake every waiter with :class:`QueueClosed`; the running turn finishes."""
        with self._lock:
            self._closed = True
            waiters, self._waiters = list(self._waiters), deque()
            for ticket in waiters:
                ticket.closed = True
        for ticket in waiters:
            ticket.wake()

    # --- the bookkeeping, under ``self._lock`` ---------------------------------------------

    def _enter(self, wake: Callable[[], None], cancel: threading.Event | None) -> _Ticket:
        ticket = _Ticket(wake)
        with self._lock:
            if self._closed:
                raise QueueClosed(f"The {self.name} model's queue is closed (the server is shutting down)")
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"Cancelled before waiting for the {self.name} model")
            if not self._running and not self._waiters:
                self._grant(ticket)
                return ticket
            if self.max_waiting is not None and len(self._waiters) >= self.max_waiting:
                raise QueueFull(
                    f"{len(self._waiters)} requests already wait for the {self.name} model: retry later",
                    self._estimate(),
                )
            self._waiters.append(ticket)
        return ticket

    def _settle(self, ticket: _Ticket, cancel: threading.Event | None) -> None:
        """After waiting: run if granted, else say why not (and never keep a turn not used)."""
        if ticket.granted and not (cancel is not None and cancel.is_set()):
            return
        closed = ticket.closed
        self._leave(ticket)
        if closed:
            raise QueueClosed(f"The {self.name} model's queue was closed while waiting (the server is shutting down)")
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Cancelled while waiting for the {self.name} model")
        raise TimeoutError(f"Waited too long for the {self.name} model")

    def _leave(self, ticket: _Ticket) -> None:
        """Take ``ticket`` out of the queue; pass the turn on if it was granted meanwhile."""
        with self._lock:
            if ticket.granted:
                self._finish()
                return
            try:
                self._waiters.remove(ticket)
            except ValueError:
                pass  # close() took it out already

    def _release(self) -> None:
        with self._lock:
            self._recent.append(time.monotonic() - self._since)
            self._finish()

    def _finish(self) -> None:
        self._running = False
        while self._waiters and not self._closed:
            ticket = self._waiters.popleft()
            self._grant(ticket)
            if ticket.wake():
                return
            self._running = False  # its event loop is gone: nobody will use or return the turn

    def _grant(self, ticket: _Ticket) -> None:
        ticket.granted = True
        self._running = True
        self._since = time.monotonic()

    def _estimate(self) -> float:
        per_turn = statistics.median(self._recent) if self._recent else DEFAULT_TURN_S
        ahead = len(self._waiters) + (1 if self._running else 0)
        return round(max(ahead, 1) * per_turn, 3)


def _resolve(future: "asyncio.Future[Any]") -> None:
    if not future.done():
        future.set_result(None)


async def finish_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a worker thread, awaited; it always runs to its end.

    Native code (a llama.cpp decode, a torch forward pass) cannot be interrupted: when
    the awaiting task is cancelled, this waits for ``fn`` to return before re-raising,
    so a turn held around it is never given back while the model still runs.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, fn, *args)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
            break
        except asyncio.CancelledError:
            if future.done():
                raise
            cancelled = True  # wait for the thread, then re-raise
    if cancelled:
        raise asyncio.CancelledError
    return result


async def stream_in_turn(queue: ModelQueue, make_chunks: "Callable[[], Iterator[ChatGenerationChunk]]",
                         run_manager: "AsyncCallbackManagerForLLMRun | None") -> "AsyncIterator[ChatGenerationChunk]":
    """A blocking model's chunks, relayed from a worker thread while it holds its turn on ``queue``;
    the generation is closed before the turn is given back (the local models' ``_astream``)."""
    async with queue.aturn():
        chunks = make_chunks()
        try:
            while (chunk := await finish_in_thread(next, chunks, None)) is not None:
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            chunks.close()
