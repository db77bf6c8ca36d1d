"""The app: the one place that wires loaders → index → retriever → chain → answer.

The CLI, the REPL and Python scripts all use :class:`RagApp` the same way::

    from rag_app import RagApp

    app = RagApp.from_env()          # .env + environment, like the CLI
    app.reindex(["data"])
    answer = app.query("How long is the frame warranty?")
    print(answer.answer, [s.location for s in answer.sources])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Sequence

from rag_app.settings import Settings
from rag_app.errors import ConfigError, IndexMissing, LLMError
from rag_app.results import Answer

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable, RunnableConfig
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.vectorstores import VectorStore
    from chains.llm import LLM
    from chains.support import SupportChecker
    from rag_app.answer.chain import AnswerSetup, LedgerCallback
    from rag_app.answer.streaming import StreamingAnswer
    from rag_app.embeddings import Embedder
    from rag_app.store.index import VectorIndex
    from rag_app.store.report import IndexReport, Progress
    from rag_app.store.records import RecordStore
    from rag_app.retrieval.search import RetrievalOptions, Searcher

RECORDS_FILE = "rag_app_records.sqlite3"
LOCK_FILE = "reindex.lock"


class RagApp:
    """Index documents and answer questions about them, with sources."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: "BaseChatModel | LLM | str | None" = None,
        embeddings: "Embeddings | str | None" = None,
        **overrides: Any,
    ) -> None:
        """``llm``: a LangChain chat model (the default model) or a name like ``RAG_LLM``;
        ``embeddings``: a LangChain ``Embeddings`` or a name like ``RAG_EMBEDDINGS``."""
        if isinstance(llm, str):
            overrides["llm"], llm = llm, None
        if isinstance(embeddings, str):
            overrides["embeddings"], embeddings = embeddings, None
        self.settings = (settings or Settings()).with_overrides(**overrides)
        self._embedder: Embedder | None = None
        if embeddings is not None:
            from rag_app.embeddings.langchain import wrap_embeddings

            self._embedder = wrap_embeddings(embeddings, self.settings.embed_batch_size)
        self._client: ClientAPI | None = None
        self._records: RecordStore | None = None
        self._index: VectorIndex | None = None
        self._llms: dict[str, LLM] = {}
        self._default_llm: LLM | None = None
        if llm is not None:
            from chains.llm import as_llm

            try:
                self._default_llm = as_llm(llm, context_window=self.settings.context_window,
                                           max_tokens=self.settings.max_tokens)
            except TypeError as exc:
                raise ConfigError(f"llm= {exc}") from None
        self._searcher: Searcher | None = None
        self._ledger_callback: LedgerCallback | None = None
        self._turns: dict[str, Callable[[], ContextManager[Any]]] = {}

    @classmethod
    def from_env(
        cls,
        env_file: str | None = ".env",
        *,
        llm: "BaseChatModel | LLM | str | None" = None,
        embeddings: "Embeddings | str | None" = None,
        **overrides: Any,
    ) -> "RagApp":
        """Settings from ``.env`` and the environment, then ``overrides``; ``llm``/``embeddings``
        as in :class:`RagApp`."""
        return cls(Settings.load(env_file), llm=llm, embeddings=embeddings, **overrides)

    # --- lazily built parts --------------------------------------------------------

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from rag_app.embeddings import embedder_for

            self._embedder = embedder_for(self.settings)
        return self._embedder

    def chroma_client(self, create: bool = False) -> "ClientAPI":
        """The Chroma client (embedded, or the server CHROMA_HOST names), connected on first use."""
        if self._client is None:
            from rag_app.store.chroma import open_client

            self._client = open_client(self.settings, create)
        return self._client

    def vector_index(self, create: bool = False) -> "VectorIndex":
        """The index over Chroma and the search side; ``create`` starts one where there is none."""
        if self._index is None:
            from loaders import SplitConfig
            from rag_app.store.chroma import open_client
            from rag_app.store.index import VectorIndex
            from rag_app.store.records import RecordStore

            s = self.settings
            if not s.chroma_host and not create and not s.persist_path.exists():
                raise IndexMissing(f"No index at {s.persist_path}: run `rag-app reindex` first.")
            self._records = RecordStore(self.settings.persist_path / RECORDS_FILE)
            split = SplitConfig(self.settings.chunk_size, self.settings.chunk_overlap, text_encoding=s.text_encoding)
            client = self.chroma_client(create) if s.chroma_host else (lambda: open_client(s, create))
            self._index = VectorIndex(
                client, self.settings.collection, self.embedder, split, self._records,
                write_batch=max(self.settings.embed_batch_size, 1) * 4, publish=bool(s.chroma_host),
            )
        return self._index

    def llm(self, spec: str | None = None) -> "LLM":
        """The model ``spec`` names (default: the ``llm=`` given, else ``RAG_LLM``), created once."""
        if spec is None and self._default_llm is not None:
            return self._default_llm
        spec = spec or self.settings.llm
        if spec not in self._llms:
            from chains import BackendError, create_llm, parse_spec
            from rag_app.answer.llm_settings import backend_options, sentence_scoring

            name = parse_spec(spec)[0]
            options = backend_options(self.settings, name)
            if name == "extractive":
                options.extra.update(sentence_scoring(self.embedder))
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
        from rag_app.store.lock import WriterLock
        from rag_app.store.plan import find_sources

        s = self.settings
        found, resolved, unreadable = find_sources(s, paths)
        index = self.vector_index(create=True)
        if dry_run:
            return index.reindex(found, resolved, verify=verify, dry_run=True, unreadable=unreadable)
        with WriterLock(s.persist_path / LOCK_FILE, wait=wait), index.writing(s.persist_path):
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
        """Settings overridden by the non-``None`` arguments (``search``: vector, mmr, hybrid, bm25;
        ``mmr=True``/``hybrid=True`` are ``search="mmr"``/``"hybrid"``), validated by :class:`Settings`."""
        from rag_app.retrieval.search import RetrievalOptions

        if mmr and hybrid:
            raise ConfigError("Choose one of --mmr and --hybrid")
        search = "mmr" if mmr else "hybrid" if hybrid else search
        if search is None and (mmr is False and self.settings.search == "mmr" or hybrid is False and self.settings.search == "hybrid"):
            search = "vector"
        s = self.settings.with_overrides(k=k, search=search, fetch_k=fetch_k, min_score=min_score)
        return RetrievalOptions.from_settings(s, where)

    def retrieve(self, question: str, k: int | None = None, **options: Any) -> list["Document"]:
        """The chunks for ``question``, best first, ``score`` (cosine similarity) in metadata.

        ``options``: ``min_score``, ``mmr``, ``hybrid``, ``where`` (``'source:docs/*.md'``),
        ``fetch_k`` — see :meth:`retrieval_options`.
        """
        return self.search(question, self.retrieval_options(k, **options))

    @property
    def searcher(self) -> "Searcher":
        """The search over the current index (rebuilt when the index is reopened)."""
        index = self.vector_index()
        if self._searcher is None or self._searcher.index is not index:
            from rag_app.retrieval.search import Searcher

            self._searcher = Searcher(index, remote=bool(self.settings.chroma_host))
        return self._searcher

    def search(self, question: str, options: "RetrievalOptions") -> list["Document"]:
        """The chunks for ``question`` under ``options`` (what the chain's retriever calls)."""
        return self.searcher.search(question, options)

    def chain(
        self,
        llm: "str | None" = None,
        *,
        k: int | None = None,
        chain: str | None = None,
        retrieval: bool = True,
        **options: Any,
    ) -> "Runnable[dict[str, Any], dict[str, Any]]":
        """The answer chain (LCEL): ``{"question"}`` → ``{"token", "answer": Answer}``.

        What :meth:`query`, :meth:`stream`, :meth:`batch`, :meth:`aquery` and
        :meth:`qa_chain` run; ``invoke``, ``stream``, ``batch``, ``ainvoke`` and
        ``astream`` all work on it, with callbacks and tracing. ``chain``: ``stuff``
        (default) or ``map_reduce``; other keywords are retrieval options.
        ``retrieval=False`` asks the model alone (no context, no sources, no check).
        """
        from rag_app.answer.chain import build_chain

        return build_chain(self._setup(llm, k=k, chain=chain, retrieval=retrieval, **options)).with_config(
            callbacks=[self.ledger_callback()])

    def _setup(self, llm: str | None, *, k: int | None, chain: str | None, retrieval: bool,
               **options: Any) -> "AnswerSetup":
        from rag_app.answer.chain import AnswerSetup
        from rag_app.measure.usage import meter

        model = self.llm(llm)
        chain_type = self.settings.with_overrides(chain=chain).chain
        retriever = self.as_retriever(k, **options) if retrieval else None
        return AnswerSetup(
            llm=model,
            chain=chain_type,
            retriever=retriever,
            checker=self.support_checker(model) if retrieval else None,
            measure=meter(self.settings),
            turn=self._turns.get(llm or self.settings.llm) if llm or self._default_llm is None else None,
        )

    def query(
        self,
        question: str,
        *,
        k: int | None = None,
        llm: str | None = None,
        chain: str | None = None,
        retrieval: bool = True,
        config: "RunnableConfig | None" = None,
        **options: Any,
    ) -> Answer:
        """Answer ``question`` from the index, with the sources the model was given.

        ``config``: a LangChain ``RunnableConfig`` (callbacks, tags, metadata) for this run.
        """
        runnable = self.chain(llm, k=k, chain=chain, retrieval=retrieval, **options)
        return runnable.invoke({"question": question}, config)["answer"]

    def batch(self, questions: Sequence[str], *, config: "RunnableConfig | None" = None, **kwargs: Any) -> list[Answer]:
        """:meth:`query` for many questions, in order (the chain's ``batch``; keywords as for :meth:`query`)."""
        runnable = self.chain(kwargs.pop("llm", None), **kwargs)
        return [r["answer"] for r in runnable.batch([{"question": q} for q in questions], config)]

    async def abatch(self, questions: Sequence[str], *, config: "RunnableConfig | None" = None, **kwargs: Any) -> list[Answer]:
        """:meth:`batch` for async callers (the chain's ``abatch``)."""
        return [r["answer"] for r in await self.chain(kwargs.pop("llm", None), **kwargs).abatch([{"question": q} for q in questions], config)]

    async def aquery(self, question: str, *, config: "RunnableConfig | None" = None, **kwargs: Any) -> Answer:
        """:meth:`query` for async callers (the chain's ``ainvoke``)."""
        runnable = self.chain(kwargs.pop("llm", None), **kwargs)
        return (await runnable.ainvoke({"question": question}, config))["answer"]

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        llm: str | None = None,
        chain: str | None = None,
        retrieval: bool = True,
        config: "RunnableConfig | None" = None,
        **options: Any,
    ) -> "StreamingAnswer":
        """Like :meth:`query`, but iterate it to get the answer as it is generated.

        Retrieval and window fitting run now (their errors are raised here, and ``.sources``
        is known at once); the model is called as the answer is iterated.
        """
        from rag_app.answer.chain import build_steps
        from rag_app.answer.streaming import StreamingAnswer

        prepare, answer = build_steps(self._setup(llm, k=k, chain=chain, retrieval=retrieval, **options))
        return StreamingAnswer(prepare, answer.with_config(callbacks=[self.ledger_callback()]), question, config)

    def take_turns(self, llm: str, turn: "Callable[[], ContextManager[Any]]") -> None:
        """Generation with model ``llm`` runs inside ``turn()`` (a server's queue); retrieval and checks do not wait."""
        self._turns[llm] = turn

    def ledger_callback(self, ledger: Any = None) -> "LedgerCallback":
        """The callback that records every answer of this app's chains in the ledger; with ``ledger``
        (a server's background ``LedgerWriter``), chains built from now on record through it."""
        if self._ledger_callback is None or ledger is not None:
            from rag_app.answer.chain import LedgerCallback
            from rag_app.measure.usage import ledger_recorder

            self._ledger_callback = LedgerCallback(ledger_recorder(self.settings, ledger))
        return self._ledger_callback

    def support_checker(self, llm: "str | LLM | None" = None) -> "SupportChecker":
        """Checks answers of model ``llm`` (a name, or the model) against their sources."""
        from chains.llm import LLM
        from rag_app.answer.support import make_checker

        return make_checker(self.settings, self.embedder, llm if isinstance(llm, LLM) else self.llm(llm))

    def condense(self, question: str, history: Sequence[tuple[str, str]], llm: str | None = None) -> str:
        """``question`` rewritten to stand alone, given earlier ``(question, answer)`` turns.

        A rewrite that loses the question's own words is not used (see :mod:`rag_app.answer.conversation`).
        """
        from rag_app.answer.conversation import condense

        return condense(self.llm(llm), question, history)

    # --- LangChain interop ---------------------------------------------------------------

    def as_retriever(self, k: int | None = None, **options: Any) -> "BaseRetriever":
        """A LangChain retriever over the index (``options`` as for :meth:`retrieve`)."""
        from rag_app.retrieval.retriever import IndexRetriever

        return IndexRetriever(app=self, options=self.retrieval_options(k, **options))

    def vectorstore(self) -> "VectorStore":
        """The index as langchain-chroma's ``Chroma``: same client, same collection, same embeddings.

        ``similarity_search``, ``max_marginal_relevance_search``, ``as_retriever(search_type=...)``
        work on what ``reindex`` maintains. Write through :meth:`reindex`, not ``add_documents``:
        the incremental bookkeeping only knows what it indexed itself.
        """
        from langchain_chroma import Chroma
        index = self.vector_index()
        index.collection()  # checks the settings match the index
        return Chroma(client=self.chroma_client(), collection_name=index.physical_name(), embedding_function=self.embedder)

    def qa_chain(self, llm: str | None = None, k: int | None = None, **kwargs: Any) -> "Runnable[dict[str, Any], dict[str, Any]]":
        """A RetrievalQA-compatible runnable: ``{"query"}`` → ``{"query", "result", "source_documents"}``.

        The same chain as :meth:`query` (support check, accounting included); its ``stream``
        yields ``{"result": token}`` pieces as they are written, then the sources.
        """
        from rag_app.answer.retrievalqa import RetrievalQA

        return RetrievalQA(core=self.chain(llm, k=k, **kwargs))

    def close(self) -> None:
        for part in (self._searcher, self._records):  # the readers' connections, then the writer's
            if part is not None:
                part.close()
        self._searcher, self._records, self._index, self._client = None, None, None, None

    def __enter__(self) -> "RagApp":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
