"""``openai``: OpenAI, or any OpenAI-compatible server through ``OPENAI_BASE_URL``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import qa_messages
from chains.registry import BackendError, BackendOptions, MissingDependency, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

DEFAULT_MODEL = "gpt-4o-mini"


class OpenAIBackend(AnswerBackend):
    """Chat completions over HTTP; the client retries 429/5xx with backoff."""

    name = "openai"

    def __init__(self, options: BackendOptions) -> None:
        try:
            import openai
        except ImportError:
            raise MissingDependency("The openai backend needs the openai package: pip install openai") from None
        if not options.api_key and not options.base_url:
            raise BackendError(
                "No API key for the openai backend: set OPENAI_API_KEY in .env or the environment "
                "(or OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        self._openai = openai
        self.model = options.model or DEFAULT_MODEL
        self.options = options
        self.base_url = options.base_url or "https://api.openai.com/v1"
        self._client = openai.OpenAI(
            api_key=options.api_key or "not-needed",
            base_url=options.base_url or None,
            timeout=options.timeout,
            max_retries=options.max_retries,
        )

    def _create(self, question: str, documents: Sequence["Document"], stream: bool) -> Any:
        openai = self._openai
        try:
            return self._client.chat.completions.create(
                model=self.model,
                messages=qa_messages(question, documents),  # type: ignore[arg-type]
                max_tokens=self.options.max_tokens,
                temperature=self.options.temperature,
                stream=stream,
            )
        except openai.AuthenticationError:
            raise BackendError(
                f"The server at {self.base_url} rejected the API key (401): check OPENAI_API_KEY"
            ) from None
        except openai.NotFoundError:
            raise BackendError(
                f"Model '{self.model}' not found at {self.base_url} (404): check RAG_OPENAI_MODEL"
            ) from None
        except openai.RateLimitError:
            raise BackendError(
                f"Rate limited by {self.base_url} (429) after {self.options.max_retries} retries: wait and retry, or raise RAG_MAX_RETRIES"
            ) from None
        except openai.APITimeoutError:
            raise BackendError(
                f"{self.base_url} did not answer within {self.options.timeout:g}s: raise RAG_TIMEOUT or check the server"
            ) from None
        except openai.APIConnectionError:
            raise BackendError(
                f"Cannot reach {self.base_url}: is the server running and OPENAI_BASE_URL right?"
            ) from None
        except openai.BadRequestError as exc:
            text = str(exc)
            if "context" in text.lower() and ("length" in text.lower() or "window" in text.lower()):
                raise BackendError(
                    f"The prompt is longer than {self.model}'s context window: lower RAG_K or RAG_CHUNK_SIZE"
                ) from None
            raise BackendError(f"{self.base_url} refused the request (400): {text}") from None
        except openai.APIStatusError as exc:
            raise BackendError(
                f"{self.base_url} failed with HTTP {exc.status_code} after {self.options.max_retries} retries"
            ) from None

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        response = self._create(question, documents, stream=False)
        self.last_usage = getattr(response, "usage", None)
        return (response.choices[0].message.content or "").strip()

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        for event in self._create(question, documents, stream=True):
            if event.choices and event.choices[0].delta.content:
                yield event.choices[0].delta.content

    def describe(self) -> str:
        return f"openai:{self.model}"


@register_llm(
    "openai",
    description="OpenAI or any OpenAI-compatible server (OPENAI_BASE_URL).",
    install_hint="pip install openai",
)
def _openai(options: BackendOptions) -> AnswerBackend:
    return OpenAIBackend(options)
