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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from rag_app.config import Settings
from rag_app.errors import ConfigError, IndexMissing, LLMError, SourceMissing
from rag_app.results import Answer, Source

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable

    from chains import AnswerBackend
    from chains.support import Support, SupportChecker
    from rag_app.embeddings import Embedder
    from rag_app.index import IndexReport, Progress, VectorIndex
    from rag_app.records import RecordStore
    from rag_app.retrieval import RetrievalOptions, Searcher

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
        self._searcher: Searcher | None = None

    @classmethod
    def from_env(cls, env_file: str | None = ".env", **overrides: Any) -> "RagApp":
        """Settings from ``.env`` and the environment, then ``overrides``."""
        return cls(Settings.load(env_file, **overrides))

    # --- lazily built parts --------------------------------------------------------

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from rag_app.embeddings import create_embeddings

            s = self.settings
            options = {
                "api_key": s.openai_api_key, "base_url": s.openai_base_url, "ollama_base_url": s.ollama_base_url,
                "timeout": s.request_timeout, "max_retries": s.max_retries,
                "runtime": s.embed_runtime, "precision": s.embed_precision,
            }
            self._embedder = create_embeddings(s.embeddings, s.embed_batch_size, options)
        return self._embedder

    def _chroma(self, create: bool) -> "ClientAPI":
        if self._client is None:
            s = self.settings
            path = s.persist_path
            if not s.chroma_host and not create and not path.exists():
                raise IndexMissing(f"No index at {path}: run `rag-app reindex` first.")
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            # The embedded store lives in RAG_PERSIST_DIR; with a server, only our
            # bookkeeping (records, lock) does.
            path.mkdir(parents=True, exist_ok=True)
            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if s.chroma_host:
                self._client = self._chroma_server(chroma_settings)
            else:
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

    def _chroma_server(self, chroma_settings: Any) -> "ClientAPI":
        import chromadb

        s = self.settings
        headers = {}
        if s.chroma_auth_token:
            bearer = s.chroma_auth_header.lower() == "authorization"
            headers[s.chroma_auth_header] = f"Bearer {s.chroma_auth_token}" if bearer else s.chroma_auth_token
        url = f"{'https' if s.chroma_ssl else 'http'}://{s.chroma_host}:{s.chroma_port}"
        try:
            client = chromadb.HttpClient(
                host=s.chroma_host, port=s.chroma_port, ssl=s.chroma_ssl, headers=headers, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as exc:
            raise ConfigError(
                f"Cannot reach the Chroma server at {url} ({type(exc).__name__}): start it with "
                "`chroma run --path DIR --host 127.0.0.1 --port 8000`, or unset CHROMA_HOST for the embedded store"
            ) from None
        return client

    def _vector_index(self, create: bool = False) -> "VectorIndex":
        if self._index is None:
            from loaders import SplitConfig
            from rag_app.index import VectorIndex
            from rag_app.records import RecordStore

            s = self.settings
            if not s.chroma_host and not create and not s.persist_path.exists():
                raise IndexMissing(f"No index at {s.persist_path}: run `rag-app reindex` first.")
            self._records = RecordStore(self.settings.persist_path / RECORDS_FILE)
            split = SplitConfig(self.settings.chunk_size, self.settings.chunk_overlap)
            # A local query is served by the search side without Chroma: connect on first use.
            client = self._chroma(create) if s.chroma_host else (lambda: self._chroma(create))
            self._index = VectorIndex(
                client, self.settings.collection, self.embedder, split, self._records,
                write_batch=max(self.settings.embed_batch_size, 1) * 4,
            )
        return self._index

    def llm(self, spec: str | None = None) -> "AnswerBackend":
        """The answer backend ``spec`` names (default ``RAG_LLM``), created once."""
        spec = spec or self.settings.llm
        if spec not in self._llms:
            from chains import BackendError, create_llm, parse_spec
            from rag_app.llm_options import backend_options

            options = backend_options(self.settings, parse_spec(spec)[0])
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
        rebuild: bool = False,
        wait: float = 0.0,
        progress: "Progress | None" = None,
    ) -> "IndexReport":
        """Index ``paths`` (default ``RAG_DATA``); only new or changed chunks are embedded.

        ``rebuild`` builds a fresh collection with the current settings beside the
        old one and switches queries over only once it is complete.
        """
        from loaders import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, SourceNotFound, walk
        from rag_app.lock import WriterLock

        s = self.settings
        roots = [Path(p) for p in (paths or s.split_list(s.data_paths))]
        if not roots:
            raise ConfigError("Nothing to index: pass PATH or set RAG_DATA")
        include = s.split_list(s.include) or list(DEFAULT_INCLUDE)
        exclude = list(DEFAULT_EXCLUDE) + s.split_list(s.exclude)
        unreadable: list[tuple[Path, str]] = []
        try:
            found = walk(roots, include, exclude, skipped=unreadable)
        except SourceNotFound as exc:
            raise SourceMissing(f"{exc}: check the path you asked to index") from None
        resolved = [r.expanduser().resolve() for r in roots]
        index = self._vector_index(create=True)
        if dry_run:
            return index.reindex(found, resolved, verify=verify, dry_run=True, unreadable=unreadable)
        with WriterLock(s.persist_path / LOCK_FILE, wait=wait):
            index.refresh()  # another writer may have switched collections since we looked
            if rebuild:
                return index.rebuild(found, resolved, progress=progress, unreadable=unreadable)
            return index.reindex(found, resolved, verify=verify, progress=progress, unreadable=unreadable)

    def stop(self) -> None:
        """Ask a running reindex to stop after its current batch (signal-safe)."""
        if self._index is not None:
            self._index.stop.set()

    # --- asking ------------------------------------------------------------------------

    def retrieval_options(
        self,
        k: int | None = None,
        *,
        min_score: float | None = None,
        mmr: bool | None = None,
        hybrid: bool | None = None,
        where: str | None = None,
        fetch_k: int | None = None,
        search: str | None = None,
    ) -> "RetrievalOptions":
        """Settings overridden by the non-``None`` arguments (``search``: vector, mmr, hybrid, bm25)."""
        from rag_app.retrieval import RetrievalOptions

        s = self.settings
        if mmr and hybrid:
            raise ConfigError("Choose one of --mmr and --hybrid")
        search = "mmr" if mmr else "hybrid" if hybrid else search or s.search
        if search == "mmr" and mmr is False or search == "hybrid" and hybrid is False:
            search = "vector"
        return RetrievalOptions(
            k=k or s.k,
            search=search,
            fetch_k=fetch_k or s.fetch_k,
            min_score=s.min_score if min_score is None else min_score,
            where=where or None,
        )

    def retrieve(self, question: str, k: int | None = None, **options: Any) -> list["Document"]:
        """The chunks for ``question``, best first, ``score`` (cosine similarity) in metadata.

        ``options``: ``min_score``, ``mmr``, ``hybrid``, ``where`` (``'source:docs/*.md'``),
        ``fetch_k`` — see :meth:`retrieval_options`.
        """
        opts = self.retrieval_options(k, **options)
        if self._searcher is None or self._searcher.index is not self._vector_index():
            from rag_app.retrieval import Searcher

            self._searcher = Searcher(self._vector_index(), remote=bool(self.settings.chroma_host))
        return self._searcher.search(question, opts)

    def query(
        self,
        question: str,
        *,
        k: int | None = None,
        llm: str | None = None,
        chain: str | None = None,
        retrieval: bool = True,
        **options: Any,
    ) -> Answer:
        """Answer ``question`` from the index, with the sources used.

        ``chain``: ``stuff`` (default) or ``map_reduce``; other keywords are retrieval options.
        ``retrieval=False`` asks the model alone (no context, no sources): how a
        fine-tuned model answers without RAG, for comparison with the hybrid.
        """
        question = question.strip()
        if not question:
            raise ConfigError("The question is empty")
        backend = self.llm(llm)
        chain = chain or self.settings.chain
        t0 = time.perf_counter()
        documents = self.retrieve(question, k, **options) if retrieval else []
        t1 = time.perf_counter()
        # Without retrieval there are no sources to check the answer against.
        checker = self.support_checker(llm) if retrieval else None
        support = checker.not_in_documents(documents) if checker else None
        if support is not None:
            text = support.cited_text  # nothing relevant: say so without calling the LLM
        else:
            documents, text = self._generate(backend, question, documents, chain)
        t2 = time.perf_counter()
        if checker is not None and support is None:
            text, support = checker.finish(question, text, documents)
        answer = Answer(
            question=question,
            answer=text,
            sources=[Source.from_document(d) for d in documents],
            timings_ms={"retrieve": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000},
            llm=backend.describe(),
            documents=documents,
            support=support,
        )
        self._account(answer, backend)
        return answer

    def support_checker(self, llm: str | None = None) -> "SupportChecker":
        """Checks answers of backend ``llm`` against their sources (per-sentence citations)."""
        from rag_app.trust import make_checker

        return make_checker(self.settings, self.embedder, self.llm(llm))

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        llm: str | None = None,
        chain: str | None = None,
        retrieval: bool = True,
        **options: Any,
    ) -> "StreamingAnswer":
        """Like :meth:`query`, but iterate it to get the answer as it is generated."""
        from chains import BackendError, combine

        question = question.strip()
        if not question:
            raise ConfigError("The question is empty")
        backend = self.llm(llm)
        chain = chain or self.settings.chain
        t0 = time.perf_counter()
        documents = self.retrieve(question, k, **options) if retrieval else []
        try:
            documents = combine.select(backend, question, documents, chain)
        except BackendError as exc:
            raise LLMError(str(exc)) from None
        checker = self.support_checker(llm) if retrieval else None
        streaming = StreamingAnswer(question, backend, documents, (time.perf_counter() - t0) * 1000, chain, checker)
        streaming.on_done = lambda answer: self._account(answer, backend, streamed=True)
        return streaming

    def _account(self, answer: Answer, backend: "AnswerBackend", streamed: bool = False) -> None:
        """Tokens and cost into ``answer.usage`` and the ledger (see :mod:`rag_app.usage`)."""
        from rag_app.usage import account

        account(self.settings, answer, backend, streamed)

    def condense(self, question: str, history: Sequence[tuple[str, str]], llm: str | None = None) -> str:
        """``question`` rewritten to stand alone, given earlier ``(question, answer)`` turns."""
        from rag_app.conversation import condense

        return condense(self.llm(llm), question, history)

    def _generate(
        self, backend: "AnswerBackend", question: str, documents: list["Document"], chain: str = "stuff"
    ) -> tuple[list["Document"], str]:
        from chains import BackendError, combine

        try:
            used = combine.select(backend, question, documents, chain)
            return used, combine.answer(backend, question, used, chain)
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

    def __init__(
        self,
        question: str,
        backend: "AnswerBackend",
        documents: list["Document"],
        retrieve_ms: float,
        chain: str = "stuff",
        checker: "SupportChecker | None" = None,
    ) -> None:
        self.question = question
        self.chain = chain
        self.checker = checker
        self.backend = backend
        self.documents = documents
        self.sources = [Source.from_document(d) for d in documents]
        self._retrieve_ms = retrieve_ms
        self.result: Answer | None = None
        self.on_done: Callable[[Answer], None] | None = None

    def __iter__(self) -> Iterator[str]:
        from chains import BackendError, combine

        pieces: list[str] = []
        t0 = time.perf_counter()
        support: Support | None = self.checker.not_in_documents(self.documents) if self.checker else None
        try:
            stream = [support.cited_text] if support else combine.stream(self.backend, self.question, self.documents, self.chain)
            for piece in stream:
                pieces.append(piece)
                yield piece
        except BackendError as exc:
            raise LLMError(str(exc)) from None
        generate_ms = (time.perf_counter() - t0) * 1000
        text = "".join(pieces).strip()
        if support is None and self.checker is not None:
            text, support = self.checker.finish(self.question, text, self.documents)
        self.result = Answer(
            question=self.question,
            answer=text,
            sources=self.sources,
            timings_ms={"retrieve": self._retrieve_ms, "generate": generate_ms},
            llm=self.backend.describe(),
            documents=self.documents,
            support=support,
        )
        if self.on_done is not None:
            self.on_done(self.result)
