"""``openai``: OpenAI, or any OpenAI-compatible server through ``OPENAI_BASE_URL``.

The model is langchain-openai's ``ChatOpenAI``: its client retries 429, 5xx,
timeouts and refused connections (``RAG_MAX_RETRIES``) with exponential backoff;
what is left after the retries becomes one line saying what to fix
(:mod:`chains.backends.openai_errors`). Usage comes back from the server
(``stream_usage``) and is recorded as the provider's count.
"""

from __future__ import annotations

from typing import Any

from chains.llm import LLM, from_chat_model, openai_explainer
from chains.errors import BackendError, MissingDependency
from chains.registry import BackendOptions, register_llm

DEFAULT_MODEL = "gpt-4o-mini"
INSTALL_HINT = "pip install 'rag-app[openai]'"


def import_langchain_openai() -> Any:
    try:
        import langchain_openai
    except ImportError:
        raise MissingDependency(f"This backend needs langchain-openai: {INSTALL_HINT}") from None
    return langchain_openai


def tiktoken_counter(model: str) -> Any:
    """Count like the model: tiktoken with its encoding, read offline (o200k for unknown names)."""
    from loaders.tokens import count_tokens

    try:
        import tiktoken

        encoding = tiktoken.encoding_name_for_model(model)
    except (KeyError, ImportError):
        encoding = "o200k_base"
    return (lambda text: count_tokens(text, encoding)), f"tiktoken:{encoding}"


def openai_llm(chat_model: Any, options: BackendOptions, provider: str, name: str, *,
               key_setting: str, model_setting: str) -> LLM:
    """The :class:`LLM` for a langchain-openai chat model, counted with tiktoken."""
    llm = from_chat_model(chat_model, spec=f"{provider}:{name}", context_window=options.context_window,
                          max_tokens=options.max_tokens)
    counter, counted_by = tiktoken_counter(name)
    llm.tokenizer, llm.tokenizer_name = counter, counted_by
    llm.explain = openai_explainer(chat_model, key_setting, model_setting)
    return llm


@register_llm("openai", description="OpenAI or any OpenAI-compatible server (OPENAI_BASE_URL).", install_hint=INSTALL_HINT)
def _openai(options: BackendOptions) -> LLM:
    lc = import_langchain_openai()
    if not options.api_key and not options.base_url:
        raise BackendError(
            "No API key for the openai backend: set OPENAI_API_KEY in .env or the environment "
            "(or OPENAI_BASE_URL for a local OpenAI-compatible server)"
        )
    model = options.model or DEFAULT_MODEL
    chat = lc.ChatOpenAI(
        model=model,
        api_key=options.api_key or "not-needed",
        base_url=options.base_url or None,
        temperature=options.temperature,
        max_completion_tokens=options.max_tokens,
        timeout=options.timeout,
        max_retries=options.max_retries,
        stream_usage=True,
        # OpenAI-compatible servers (llama.cpp, older vLLM) know only max_tokens, not max_completion_tokens.
        extra_body={"max_tokens": options.max_tokens} if options.base_url else None,
    )
    return openai_llm(chat, options, "openai", model, key_setting="OPENAI_API_KEY", model_setting="RAG_OPENAI_MODEL")
