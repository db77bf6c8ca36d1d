"""One answering model and the few facts the pipeline needs about it.

Every backend, built in or not, is a LangChain runnable: a chat model
(:class:`~langchain_core.language_models.BaseChatModel`: ``local``, ``openai``,
``azure``, ``ollama``, ``hf``, ``fake``, or anything ``init_chat_model`` makes)
or an :class:`~chains.backend.AnswerBackend` that answers from passages without
a prompt (``extractive``, older plugins). :class:`LLM` carries it together with
what the pipeline must know and a chat model does not say in a standard way:
its context window, how to count its tokens, how it is billed, how to explain
its errors in one line, and whether its unsupported answers are better replaced
by quotes. These are data, set once when the model is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from chains.backend import AnswerBackend

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

#: How a model's queries cost money: per token at its listed price, per hour of local
#: generation (``RAG_LOCAL_COST_PER_HOUR``), or not at all.
BILLING = ("tokens", "local", "free")
ESTIMATE = "estimate:cl100k_base"

Prompt = Callable[[str, Sequence["Document"]], list["BaseMessage"]]


def qa_prompt_messages(question: str, documents: Sequence["Document"]) -> list["BaseMessage"]:
    """The grounded QA prompt (``chains.prompt``) as LangChain messages."""
    from chains.prompt import format_context, qa_prompt

    return qa_prompt().format_messages(context=format_context(documents), question=question)


@lru_cache(maxsize=4096)
def _estimate(text: str) -> int:
    """A cl100k count; the same passages are counted for many questions, so counts are kept."""
    from loaders.tokens import count_tokens

    return count_tokens(text)


@dataclass
class LLM:
    """A chat model (or passage answerer) with its label, window, tokenizer and billing."""

    #: ``openai:gpt-4o-mini``, ``local:SmolLM2-135M-Instruct-Q8_0.gguf``: logs, ``--json``, the ledger.
    label: str
    #: The chat model; ``None`` when :attr:`backend` answers instead.
    chat_model: "BaseChatModel | None" = None
    #: A passage answerer (no prompt, no chat model).
    backend: AnswerBackend | None = None
    provider: str = ""
    #: The model's name as price tables list it (``gpt-4o-mini``).
    model_name: str | None = None
    #: Tokens the model sees at once (prompt + answer); ``None``: no limit to respect.
    context_window: int | None = None
    #: Tokens reserved for the answer inside the window.
    max_tokens: int = 0
    #: Counts tokens as the model does; ``None``: a cl100k estimate.
    tokenizer: Callable[[str], int] | None = None
    #: What :attr:`tokenizer` is called in usage reports.
    tokenizer_name: str = "model tokenizer"
    billing: str = "tokens"
    #: Weak models invent: their wholly unsupported answers are replaced by quotes (RAG_UNSUPPORTED=auto).
    quotes_when_unsupported: bool = False
    #: The messages the model is asked with (a fine-tuned model keeps its trained format).
    prompt: Prompt = field(default=qa_prompt_messages)
    #: One line saying what went wrong and what to change, or ``None`` to describe the error generically.
    explain: Callable[[Exception], str | None] | None = None

    @property
    def generative(self) -> bool:
        """Whether it writes free text (condensing follow-ups needs that)."""
        return self.chat_model is not None

    @property
    def model(self) -> Any:
        """The underlying chat model or answerer."""
        return self.chat_model if self.chat_model is not None else self.backend

    def count_tokens(self, text: str) -> int:
        return (self.tokenizer or _estimate)(text)

    @property
    def counted_by(self) -> str:
        return self.tokenizer_name if self.tokenizer is not None else ESTIMATE

    def describe(self) -> str:
        return self.label

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        """One answer from ``documents`` with the grounded prompt, without the app around it
        (the eval judge, scripts). Errors are :class:`~chains.registry.BackendError`."""
        from chains.combine import generate

        return "".join(m if isinstance(m, str) else m.text for m in generate(self, question, documents, stream=False)).strip()

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        """:meth:`answer` in pieces, as the model writes them."""
        from chains.combine import generate

        for chunk in generate(self, question, documents, stream=True):
            piece = chunk if isinstance(chunk, str) else chunk.text
            if piece:
                yield piece

    def error(self, exc: Exception) -> str:
        """A one-line message for ``exc`` raised while this model answered."""
        message = self.explain(exc) if self.explain else None
        if message:
            return message
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        return f"The {self.label} model failed ({type(exc).__name__}): {detail}"


def from_chat_model(model: "BaseChatModel", *, spec: str = "", context_window: int | None = None,
                    max_tokens: int = 0) -> LLM:
    """Facts about any LangChain chat model, read from what it exposes.

    The label is ``provider:model`` when the model names them; the window comes from the
    model's profile (``max_input_tokens``) when LangChain knows it, else ``context_window``.
    """
    name = _model_name(model)
    provider = spec.partition(":")[0] if ":" in spec else _provider(model)
    profile = getattr(model, "profile", None) or {}
    window = profile.get("max_input_tokens") if isinstance(profile, dict) else None
    return LLM(
        label=f"{provider}:{name}" if name else provider or type(model).__name__,
        chat_model=model,
        provider=provider,
        model_name=name,
        context_window=int(window) if window else context_window,
        max_tokens=max_tokens,
        tokenizer=_chat_model_tokenizer(model),
        tokenizer_name="model tokenizer",
        billing="tokens",
        explain=openai_explainer(model) if _speaks_openai(model) else None,
    )


def from_backend(backend: AnswerBackend) -> LLM:
    """An :class:`AnswerBackend` (a quote-only answerer or an older plugin) as an :class:`LLM`."""
    counter = backend.count_tokens if type(backend).count_tokens is not AnswerBackend.count_tokens else None
    return LLM(
        label=backend.describe(),
        backend=backend,
        provider=backend.name,
        context_window=backend.context_window,
        max_tokens=backend.max_tokens,
        tokenizer=counter,
        billing="free" if not backend.generative else "tokens",
    )


def as_llm(obj: Any, *, spec: str = "", context_window: int | None = None, max_tokens: int = 0) -> LLM:
    """Wrap whatever a factory or a caller handed us: an :class:`LLM`, chat model or backend."""
    from langchain_core.language_models import BaseChatModel

    if isinstance(obj, LLM):
        return obj
    if isinstance(obj, BaseChatModel):
        return from_chat_model(obj, spec=spec, context_window=context_window, max_tokens=max_tokens)
    if isinstance(obj, AnswerBackend):
        return from_backend(obj)
    raise TypeError(
        f"expected a LangChain chat model (BaseChatModel) or an AnswerBackend, got {type(obj).__name__}"
    )


def _model_name(model: Any) -> str | None:
    for attr in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def _provider(model: Any) -> str:
    """``anthropic`` for ``langchain_anthropic.ChatAnthropic``; the model type otherwise."""
    module = type(model).__module__.split(".")[0]
    if module.startswith("langchain_") and module not in ("langchain_core", "langchain_community"):
        return module.removeprefix("langchain_").replace("_", "-")
    return getattr(model, "_llm_type", type(model).__name__)


def _chat_model_tokenizer(model: "BaseChatModel") -> Callable[[str], int] | None:
    """The model's own ``get_num_tokens`` when its class defines one, checked to work offline."""
    from langchain_core.language_models import BaseLanguageModel

    if type(model).get_num_tokens is BaseLanguageModel.get_num_tokens and \
            type(model).get_token_ids is BaseLanguageModel.get_token_ids:
        return None  # the base class would fetch GPT-2's tokenizer from the hub
    from loaders.tokens import install_offline_encodings

    install_offline_encodings()  # tiktoken-based counters read the shipped encodings
    try:
        model.get_num_tokens("probe")
    except Exception:  # noqa: BLE001 - a counter that needs the network is no counter here
        return None
    return model.get_num_tokens


def _speaks_openai(model: Any) -> bool:
    return type(model).__module__.startswith("langchain_openai")


def openai_explainer(model: Any, key_setting: str = "OPENAI_API_KEY",
                     model_setting: str = "RAG_OPENAI_MODEL") -> Callable[[Exception], str | None]:
    """Explains the ``openai`` package's errors for a langchain-openai chat model."""

    def explain(exc: Exception) -> str | None:
        from chains.backends.openai_errors import explain_openai_error

        base_url = getattr(model, "openai_api_base", None) or getattr(model, "azure_endpoint", None)
        return explain_openai_error(
            exc,
            model=_model_name(model) or "?",
            base_url=str(base_url or "https://api.openai.com/v1").rstrip("/"),
            max_retries=int(getattr(model, "max_retries", None) or 0),
            timeout=getattr(model, "request_timeout", None),
            key_setting=key_setting,
            model_setting=model_setting,
        )

    return explain
