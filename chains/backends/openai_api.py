"""``openai``: OpenAI, or any OpenAI-compatible server through ``OPENAI_BASE_URL``.

Retries are ours, not the client's: 429, 5xx, timeouts and refused connections
are retried up to ``max_retries`` times with exponential backoff
(``retry_backoff`` × 2ⁿ seconds, capped at 30 s); everything else fails at once
with a one-line message that says what to fix.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import qa_messages
from chains.registry import BackendError, BackendOptions, MissingDependency, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

DEFAULT_MODEL = "gpt-4o-mini"
MAX_BACKOFF_S = 30.0

#: Context windows of well-known models; others use ``options.context_window``.
KNOWN_WINDOWS = {
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
}


def import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise MissingDependency(
            "This backend needs the openai package: pip install 'rag-app[openai]'"
        ) from None
    return openai


class OpenAIBackend(AnswerBackend):
    """Chat completions over HTTP, with bounded retries and clear errors."""

    name = "openai"
    model_setting = "RAG_OPENAI_MODEL"
    key_setting = "OPENAI_API_KEY"

    def __init__(self, options: BackendOptions, client: Any = None, base_url: str | None = None) -> None:
        self._openai = import_openai()
        self.options = options
        self.model = options.model or DEFAULT_MODEL
        self.max_tokens = options.max_tokens
        self.context_window = KNOWN_WINDOWS.get(self.model, options.context_window)
        if client is None:
            if not options.api_key and not options.base_url:
                raise BackendError(
                    "No API key for the openai backend: set OPENAI_API_KEY in .env or the environment "
                    "(or OPENAI_BASE_URL for a local OpenAI-compatible server)"
                )
            client = self._openai.OpenAI(
                api_key=options.api_key or "not-needed",
                base_url=options.base_url or None,
                timeout=options.timeout,
                max_retries=0,
            )
        self._client = client
        self.base_url = (base_url or options.base_url or "https://api.openai.com/v1").rstrip("/")
        self.requests = 0  # HTTP attempts made, retries included

    # --- one request, retried --------------------------------------------------------

    def _call(self, messages: list[dict[str, str]], stream: bool, max_tokens: int | None = None) -> Any:
        openai = self._openai
        retryable = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
        attempts = self.options.max_retries + 1
        for attempt in range(attempts):
            try:
                self.requests += 1
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens or self.options.max_tokens,
                    temperature=self.options.temperature,
                    stream=stream,
                )
            except retryable as exc:  # APITimeoutError is an APIConnectionError
                if attempt + 1 < attempts:
                    time.sleep(min(self.options.retry_backoff * 2**attempt, MAX_BACKOFF_S))
                    continue
                raise self._explain(exc) from None
            except openai.APIError as exc:
                raise self._explain(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain(self, exc: Exception) -> BackendError:
        """One line that says what went wrong and what to change."""
        openai = self._openai
        tries = self.options.max_retries + 1
        tried = f"after {tries} attempt{'s' if tries > 1 else ''}"
        if isinstance(exc, openai.AuthenticationError):
            return BackendError(f"The server at {self.base_url} rejected the API key (401): check {self.key_setting}")
        if isinstance(exc, openai.PermissionDeniedError):
            return BackendError(f"The API key may not use '{self.model}' at {self.base_url} (403): check the key's permissions")
        if isinstance(exc, openai.NotFoundError):
            return BackendError(f"Model '{self.model}' not found at {self.base_url} (404): check {self.model_setting}")
        if isinstance(exc, openai.RateLimitError):
            return BackendError(f"Rate limited by {self.base_url} (429) {tried}: wait and retry, or raise RAG_MAX_RETRIES")
        if isinstance(exc, openai.APITimeoutError):
            return BackendError(
                f"{self.base_url} did not answer within {self.options.timeout:g}s ({tried}): raise RAG_TIMEOUT or check the server"
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(f"Cannot reach {self.base_url} ({tried}): is the server running and the URL right?")
        if isinstance(exc, openai.BadRequestError):
            text = " ".join(str(exc).split())
            lowered = text.lower()
            if "context" in lowered and ("length" in lowered or "window" in lowered or "maximum" in lowered):
                return BackendError(
                    f"The prompt is longer than {self.model}'s context window: lower RAG_K or RAG_CHUNK_SIZE, or set RAG_N_CTX to the model's window"
                )
            return BackendError(f"{self.base_url} refused the request (400): {text[:300]}")
        if isinstance(exc, openai.APIStatusError):
            return BackendError(f"{self.base_url} failed with HTTP {exc.status_code} {tried}")
        return BackendError(f"{self.base_url}: {' '.join(str(exc).split())[:300]}")

    # --- the backend interface ---------------------------------------------------------

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        return self.generate(qa_messages(question, documents))

    def generate(self, messages: list[dict[str, str]]) -> str:
        response = self._call(messages, stream=False)
        self.last_usage = getattr(response, "usage", None)
        return (response.choices[0].message.content or "").strip()

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        events = self._call(qa_messages(question, documents), stream=True)
        try:
            for event in events:
                if event.choices and event.choices[0].delta.content:
                    yield event.choices[0].delta.content
        except self._openai.APIError as exc:
            raise self._explain(exc) from None

    def count_tokens(self, text: str) -> int:
        """tiktoken with the model's encoding (``o200k_base`` for unknown names)."""
        from loaders.tokens import get_encoding

        try:
            import tiktoken

            encoding = tiktoken.encoding_name_for_model(self.model)
        except (KeyError, ImportError):
            encoding = "o200k_base"
        return len(get_encoding(encoding).encode(text, disallowed_special=()))

    def describe(self) -> str:
        return f"{self.name}:{self.model}"


@register_llm(
    "openai",
    description="OpenAI or any OpenAI-compatible server (OPENAI_BASE_URL).",
    install_hint="pip install 'rag-app[openai]'",
)
def _openai(options: BackendOptions) -> AnswerBackend:
    return OpenAIBackend(options)
