"""What the server does, without HTTP: answers, per-model queues, reindex jobs.

Backends that must not generate for two callers at once (the local llama.cpp
model, a transformers model, plugins we know nothing about) get a
:class:`chains.queueing.ModelQueue` each: requests take turns in arrival order,
at most ``max_queue`` wait (beyond that :class:`~chains.queueing.QueueFull`), and
a waiter whose cancel event is set (its client left) leaves without running.
Retrieval, the support check of network backends and everything of the
thread-safe backends run outside any queue, in the caller's thread. The cancel
event of the request a thread works for travels in :data:`chains.queueing.CANCEL`,
which the local model also checks between tokens.

Reindex jobs run one at a time on a single worker thread with their own
``RagApp`` (its bookkeeping database belongs to that thread), under the same
writer lock as ``rag-app reindex``.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from chains.queueing import CANCEL, ModelQueue, QueueClosed, QueueFull
from rag_app.errors import IndexMissing, LockBusy, RagError

if TYPE_CHECKING:
    from rag_app.results import Answer
    from rag_app.answer.streaming import StreamingAnswer
    from rag_app.app import RagApp

#: Backends that may generate for several requests at once (pure Python or an HTTP client).
PARALLEL_SAFE = frozenset({"extractive", "fake", "openai", "azure", "ollama"})
#: Backends whose answer is CPU work in this process: run a few at a time (see ``RagService.lanes``).
CPU_BOUND = frozenset({"extractive", "fake"})
#: Finished reindex jobs kept for ``GET /reindex/{job}``.
KEEP_JOBS = 50
#: Requests that may wait for one slow model by default: a few minutes of local answers at most.
DEFAULT_MAX_QUEUE = min(64, 8 * (os.cpu_count() or 1))


def backend_name(spec: str) -> str:
    """``"openai:gpt-4o"`` → ``"openai"``."""
    return spec.split(":", 1)[0].strip().lower()


@dataclass
class ReindexJob:
    """One background reindex; ``to_dict()`` is what ``GET /reindex/{job}`` returns."""

    id: str
    verify: bool = False
    rebuild: bool = False
    status: str = "queued"  # queued, running, done, failed
    started: float = field(default_factory=time.time)
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.id, "status": self.status, "verify": self.verify, "rebuild": self.rebuild,
            "started": self.started, "finished": self.finished, "report": self.report, "error": self.error,
        }


class RagService:
    """Answers and reindex jobs for the HTTP layer; safe to call from many threads."""

    def __init__(self, app: "RagApp", models: Sequence[str] | None = None, options: dict[str, Any] | None = None,
                 max_queue: int | None = None) -> None:
        self.app = app
        s = app.settings
        names = list(models or s.split_list(s.serve_models) or [s.llm, "extractive"])
        self.models = list(dict.fromkeys(names))  # unique, in order
        self.default_model = self.models[0]
        #: Retrieval and chain defaults (the serve command's flags); requests override them.
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self.max_queue = DEFAULT_MAX_QUEUE if max_queue is None else max_queue
        #: CPU-bound answers run this many at a time: more threads only fight over the GIL and
        #: starve the event loop (latency grows, throughput does not).
        self.lanes = max(2, os.cpu_count() or 1)
        self.queues = {m: ModelQueue(m, self.max_queue) for m in self.models if backend_name(m) not in PARALLEL_SAFE}
        for model, queue in self.queues.items():  # the model's calls take turns; retrieval does not wait
            app.take_turns(model, lambda queue=queue: queue.turn(cancel=CANCEL.get()))
        self._admitted = {m: 0 for m in self.queues}
        self._admit_lock = threading.Lock()
        self.stopping = False
        self._jobs: dict[str, ReindexJob] = {}
        self._jobs_lock = threading.Lock()
        self._running: ReindexJob | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reindex")
        self._writer: RagApp | None = None  # created and used on the worker thread only
        self.started = time.time()
        self.ledger: Any = None
        if s.ledger:  # rows are written off the request threads, in batches, through one connection
            from rag_app.measure.ledger import Ledger

            self.ledger = Ledger(s.persist_path / Ledger.FILE).writer()
            app.ledger_callback(self.ledger)

    # --- start-up ----------------------------------------------------------------------

    def warm(self) -> list[str]:
        """Load every served model and the embedder now; return warnings (e.g. no index yet)."""
        warnings = []
        for model in self.models:
            self.app.llm(model)  # an unknown or broken backend fails here, before the port opens
        try:
            self.app.retrieve("warm up", k=1)
        except IndexMissing as exc:
            warnings.append(str(exc))
        return warnings

    # --- asking ------------------------------------------------------------------------

    def resolve_model(self, requested: str | None) -> str:
        """The served backend ``requested`` names; any other name means the default one."""
        if requested:
            wanted = requested.strip()
            for model in self.models:
                if model.lower() == wanted.lower():
                    return model
        return self.default_model

    def cpu_bound(self, model: str) -> bool:
        """Whether ``model``'s answers are pure CPU work here (no network, no model queue)."""
        return backend_name(model) in CPU_BOUND

    def slow(self, model: str) -> bool:
        """Whether ``model`` takes turns (its requests run on threads of their own)."""
        return model in self.queues

    @contextmanager
    def generation(self, model: str) -> Iterator[None]:
        """Hold ``model``'s turn (a no-op for backends that can run in parallel)."""
        queue = self.queues.get(model)
        if queue is None:
            yield
            return
        with queue.turn(cancel=CANCEL.get()):
            yield

    def admit(self, model: str) -> Callable[[], None]:
        """Count a request for a slow ``model`` until the returned ``release()`` (idempotent).

        :class:`QueueFull` at once when ``max_queue`` requests wait already (one more may be
        generating), :class:`QueueClosed` once the server is shutting down. A request is counted
        from before its retrieval to the end of its thread.
        """
        queue = self.queues.get(model)
        if queue is None:
            return lambda: None
        with self._admit_lock:
            if queue.closed or self.stopping:
                raise QueueClosed("The server is shutting down: retry on its next start")
            if self._admitted[model] >= self.max_queue + 1:
                raise QueueFull(f"{self.max_queue} requests already wait for the {model} model: retry later",
                                queue.retry_after())
            self._admitted[model] += 1
        released = threading.Event()

        def release() -> None:
            with self._admit_lock:
                if not released.is_set():
                    released.set()
                    self._admitted[model] -= 1

        return release

    def queued(self) -> dict[str, int]:
        """Requests per slow model now: generating, waiting for their turn, or retrieving before it."""
        with self._admit_lock:
            return {m: max(self._admitted[m], q.running + q.waiting) for m, q in self.queues.items()}

    def queue_depth(self) -> dict[str, dict[str, int]]:
        """Per slow model: ``running`` (0 or 1), ``waiting`` for the turn, ``admitted`` requests, ``limit``."""
        with self._admit_lock:
            return {m: {"running": q.running, "waiting": q.waiting, "admitted": self._admitted[m], "limit": self.max_queue}
                    for m, q in self.queues.items()}

    def begin_shutdown(self) -> None:
        """Refuse new requests; every request waiting for a model's turn gets :class:`QueueClosed` now."""
        self.stopping = True
        for queue in self.queues.values():
            queue.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the generations still running to end (a cut one stops at
        its next token); ``True`` when none runs."""
        deadline = time.monotonic() + timeout
        while any(q.running for q in self.queues.values()):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def condense(self, question: str, history: Sequence[tuple[str, str]], model: str) -> str:
        """The REPL's follow-up rewriting; generative backends take their turn for it."""
        if not history:
            return question
        with self.generation(model):
            return self.app.condense(question, history, model)

    def start(
        self, question: str, *, model: str, history: Sequence[tuple[str, str]] = (), **options: Any
    ) -> "StreamingAnswer":
        """Condense and retrieve now (errors surface here); generation happens on iteration."""
        question = self.condense(question, history, model)
        merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
        return self.app.stream(question, llm=model, **merged)

    def pieces(self, streaming: "StreamingAnswer", model: str, cancel: threading.Event | None = None) -> Iterator[str]:
        """The answer's pieces, generated in ``model``'s turn; stops early when ``cancel`` is set."""
        pieces = iter(streaming)
        try:
            for piece in pieces:
                yield piece
                if cancel is not None and cancel.is_set():
                    return
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # stops generation now and gives the model's turn back

    def ask(self, question: str, *, model: str, history: Sequence[tuple[str, str]] = (), **options: Any) -> "Answer":
        """The whole answer; the same :class:`Answer` as ``rag-app query`` gives."""
        question = self.condense(question, history, model)
        merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
        return self.app.query(question, llm=model, **merged)

    # --- reindexing ----------------------------------------------------------------------

    def start_reindex(self, verify: bool = False, rebuild: bool = False) -> ReindexJob:
        """Start a reindex of the configured paths in the background; LockBusy if one runs."""
        from rag_app.store.lock import WriterLock
        from rag_app.app import LOCK_FILE

        with self._jobs_lock:
            if self._running is not None:
                raise LockBusy(f"Reindex job {self._running.id} of this server is running: see GET /reindex/{self._running.id}")
            # Another process (cron, `reindex --every`) may hold the writer lock: say so now.
            with WriterLock(self.app.settings.persist_path / LOCK_FILE, wait=0):
                pass
            job = ReindexJob(id=uuid.uuid4().hex[:12], verify=verify, rebuild=rebuild)
            self._jobs[job.id] = job
            self._running = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.pop(next(iter(self._jobs)))
        self._worker.submit(self._run_job, job)
        return job

    def job(self, job_id: str) -> ReindexJob | None:
        with self._jobs_lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[ReindexJob]:
        with self._jobs_lock:
            return list(self._jobs.values())

    @property
    def running_job(self) -> ReindexJob | None:
        return self._running

    def _run_job(self, job: ReindexJob) -> None:
        from rag_app.app import RagApp

        job.status = "running"
        try:
            if self._writer is None:
                self._writer = RagApp(self.app.settings)
            report = self._writer.reindex(verify=job.verify, rebuild=job.rebuild)
            job.report = report.to_dict()
            job.status = "done"
        except RagError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # reported in the job, logged with its traceback
            traceback.print_exc()
            job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished = time.time()
            with self._jobs_lock:
                self._running = None

    def close(self) -> None:
        """Stop a running reindex after its current batch and wait for it."""
        if self._writer is not None:
            self._writer.stop()
        self._worker.submit(self._close_writer)
        self._worker.shutdown(wait=True)
        if self.ledger is not None:
            self.ledger.close()  # rows recorded after this are written inline
            self.ledger = None

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def question_too_long(question: str, limit: int) -> str | None:
    """A message when ``question`` is longer than ``limit`` characters."""
    if len(question) > limit:
        return f"The question has {len(question)} characters; this server accepts at most {limit} (RAG_MAX_QUESTION_CHARS)"
    return None
