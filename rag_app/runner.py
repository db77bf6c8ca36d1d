"""The runner: the one place that wires loaders → index → retriever → chain → answer.

The CLI, the REPL and Python scripts all use :class:`RagApp` the same way::

    from rag_app import RagApp

    app = RagApp.from_env()          # .env + environment, like the CLI
    app.reindex(["data"])
    answer = app.query("How long is the frame warranty?")
    print(answer.answer, [s.location for s in answer.sources])
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rag_app.config import Settings
from rag_app.errors import ConfigError, IndexMissing, LLMError, SourceMissing
from rag_app.results import Answer, Source

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable

    from chains import AnswerBackend
    from rag_app.embeddings import Embedder
    from rag_app.index import IndexReport, Progress, VectorIndex
    from rag_app.records import RecordStore

RECORDS_FILE = "rag_app_records.sqlite3"
LOCK_FILE = "reindex.lock"


class RagApp:
    """Index documents and answer questions about them, with sources."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = (settings or Settings()).with_overrides(**overrides)
        self._embedder: Embedder | None = None
        self._client: ClientAPI | None = None
        self._records: RecordStore | None = None
        self._index: VectorIndex | None = None
        self._llms: dict[str, AnswerBackend] = {}

    @classmethod
    def from_env(cls, env_file: str | None = ".env", **overrides: Any) -> "RagApp":
        """Settings from ``.env`` and the environment, then ``overrides``."""
        return cls(Settings.load(env_file, **overrides))

    # --- lazily built parts --------------------------------------------------------

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from rag_app.embeddings import create_embeddings

            self._embedder = create_embeddings(self.settings.embeddings, self.settings.embed_batch_size)
        return self._embedder

    def _chroma(self, create: bool) -> "ClientAPI":
        if self._client is None:
            path = self.settings.persist_path
            if not create and not path.exists():
                raise IndexMissing(f"No index at {path}: run `rag-app reindex` first.")
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
            )
        return self._client

    def _vector_index(self, create: bool = False) -> "VectorIndex":
        if self._index is None:
            from loaders import SplitConfig
            from rag_app.index import VectorIndex
            from rag_app.records import RecordStore

            client = self._chroma(create)
            self._records = RecordStore(self.settings.persist_path / RECORDS_FILE)
            split = SplitConfig(self.settings.chunk_size, self.settings.chunk_overlap)
            self._index = VectorIndex(
                client, self.settings.collection, self.embedder, split, self._records,
                write_batch=max(self.settings.embed_batch_size, 1) * 4,
            )
        return self._index

    def llm(self, spec: str | None = None) -> "AnswerBackend":
        """The answer backend ``spec`` names (default ``RAG_LLM``), created once."""
        spec = spec or self.settings.llm
        if spec not in self._llms:
            from chains import BackendError, BackendOptions, create_llm, parse_spec

            s = self.settings
            name, _ = parse_spec(spec)
            options = BackendOptions(
                model={"openai": s.openai_model, "local": s.local_model or None}.get(name),
                api_key=s.openai_api_key or None,
                base_url=s.openai_base_url or None,
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                context_window=s.context_window,
                threads=s.threads or None,
                timeout=s.request_timeout,
                max_retries=s.max_retries,
            )
            try:
                self._llms[spec] = create_llm(spec, options)
            except BackendError as exc:
                raise LLMError(str(exc)) from None
        return self._llms[spec]

    # --- indexing ---------------------------------------------------------------------

    def reindex(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        verify: bool = False,
        dry_run: bool = False,
        wait: float = 0.0,
        progress: "Progress | None" = None,
    ) -> "IndexReport":
        """Index ``paths`` (default ``RAG_DATA``); only new or changed chunks are embedded."""
        from loaders import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, SourceNotFound, walk
        from rag_app.lock import WriterLock

        s = self.settings
        roots = [Path(p) for p in (paths or s.split_list(s.data_paths))]
        if not roots:
            raise ConfigError("Nothing to index: pass PATH or set RAG_DATA")
        include = s.split_list(s.include) or list(DEFAULT_INCLUDE)
        exclude = list(DEFAULT_EXCLUDE) + s.split_list(s.exclude)
        try:
            found = walk(roots, include, exclude)
        except SourceNotFound as exc:
            raise SourceMissing(f"{exc}: check the path you asked to index") from None
        resolved = [r.expanduser().resolve() for r in roots]
        index = self._vector_index(create=True)
        if dry_run:
            return index.reindex(found, resolved, verify=verify, dry_run=True)
        with WriterLock(s.persist_path / LOCK_FILE, wait=wait):
            return index.reindex(found, resolved, verify=verify, progress=progress)

    def stop(self) -> None:
        """Ask a running reindex to stop after its current batch (signal-safe)."""
        if self._index is not None:
            self._index.stop.set()

    # --- asking ------------------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None) -> list["Document"]:
        """The chunks most similar to ``question``, best first, ``score`` in metadata."""
        return self._vector_index().search(question, k or self.settings.k)

    def query(
        self, question: str, *, k: int | None = None, llm: str | None = None, retrieval: bool = True
    ) -> Answer:
        """Answer ``question`` from the index, with the sources used.

        ``retrieval=False`` asks the model alone (no context, no sources): how a
        fine-tuned model answers without RAG, for comparison with the hybrid.
        """
        question = question.strip()
        if not question:
            raise ConfigError("The question is empty")
        backend = self.llm(llm)
        t0 = time.perf_counter()
        documents = self.retrieve(question, k) if retrieval else []
        t1 = time.perf_counter()
        text = self._generate(backend, question, documents)
        t2 = time.perf_counter()
        return Answer(
            question=question,
            answer=text,
            sources=[Source.from_document(d) for d in documents],
            timings_ms={"retrieve": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000},
            llm=backend.describe(),
            documents=documents,
        )

    def stream(
        self, question: str, *, k: int | None = None, llm: str | None = None, retrieval: bool = True
    ) -> "StreamingAnswer":
        """Like :meth:`query`, but iterate it to get the answer as it is generated."""
        backend = self.llm(llm)
        t0 = time.perf_counter()
        documents = self.retrieve(question.strip(), k) if retrieval else []
        return StreamingAnswer(question.strip(), backend, documents, (time.perf_counter() - t0) * 1000)

    def _generate(self, backend: "AnswerBackend", question: str, documents: list["Document"]) -> str:
        from chains import BackendError

        try:
            return backend.answer(question, documents)
        except BackendError as exc:
            raise LLMError(str(exc)) from None

    # --- LangChain interop ---------------------------------------------------------------

    def as_retriever(self, k: int | None = None) -> "BaseRetriever":
        """A LangChain retriever over the index."""
        from rag_app.retriever import IndexRetriever

        return IndexRetriever(app=self, k=k or self.settings.k)

    def qa_chain(self, llm: str | None = None, k: int | None = None) -> "Runnable[dict[str, Any], dict[str, Any]]":
        """A RetrievalQA-compatible runnable: ``{"query"}`` → ``{"result", "source_documents"}``."""
        from chains.qa import build_qa_chain

        return build_qa_chain(self.as_retriever(k), self.llm(llm))

    def close(self) -> None:
        if self._records is not None:
            self._records.close()
            self._records = None
        self._index = None
        self._client = None

    def __enter__(self) -> "RagApp":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class StreamingAnswer:
    """Iterate for answer pieces; afterwards ``.result`` holds the full :class:`Answer`."""

    def __init__(self, question: str, backend: "AnswerBackend", documents: list["Document"], retrieve_ms: float) -> None:
        self.question = question
        self.backend = backend
        self.documents = documents
        self.sources = [Source.from_document(d) for d in documents]
        self._retrieve_ms = retrieve_ms
        self.result: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        from chains import BackendError

        pieces: list[str] = []
        t0 = time.perf_counter()
        try:
            for piece in self.backend.stream(self.question, self.documents):
                pieces.append(piece)
                yield piece
        except BackendError as exc:
            raise LLMError(str(exc)) from None
        self.result = Answer(
            question=self.question,
            answer="".join(pieces).strip(),
            sources=self.sources,
            timings_ms={"retrieve": self._retrieve_ms, "generate": (time.perf_counter() - t0) * 1000},
            llm=self.backend.describe(),
            documents=self.documents,
        )
