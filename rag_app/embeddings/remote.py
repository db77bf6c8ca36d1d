"""Embedding APIs: ``openai:MODEL`` (or any compatible server) and ``ollama:MODEL``."""

from __future__ import annotations

from typing import Any, Mapping

from rag_app.embeddings.registry import Embedder, register_embeddings
from rag_app.errors import ConfigError

_OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class RemoteEmbedder(Embedder):
    """An embedding API; the dimension is known by name or asked once with a probe."""

    def __init__(self, model: str, known_dimension: int | None = None) -> None:
        super().__init__()
        self.model = model
        self._dimension = known_dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self._embed(["dimension probe"])[0])
        return self._dimension


class OpenAIEmbedder(RemoteEmbedder):
    """The OpenAI embeddings API, or a compatible server (``OPENAI_BASE_URL``)."""

    def __init__(self, model: str, options: Mapping[str, Any]) -> None:
        super().__init__(model, _OPENAI_DIMENSIONS.get(model))
        try:
            import openai
        except ImportError:
            raise ConfigError("openai: embeddings need the openai package: pip install 'rag-app[openai]'") from None
        api_key, base_url = options.get("api_key"), options.get("base_url")
        if not api_key and not base_url:
            raise ConfigError("openai: embeddings need OPENAI_API_KEY (or OPENAI_BASE_URL): set it in .env or the environment")
        self.identity = f"openai:{model}"
        self.base_url = str(base_url or "https://api.openai.com/v1").rstrip("/")
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url or None,
            timeout=float(options.get("timeout", 60.0)),
            max_retries=int(options.get("max_retries", 3)),
        )

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from rag_app.errors import LLMError

        try:
            response = self._client.embeddings.create(model=self.model, input=texts)
        except self._openai.AuthenticationError:
            raise LLMError(f"The server at {self.base_url} rejected the API key (401): check OPENAI_API_KEY") from None
        except self._openai.NotFoundError:
            raise LLMError(f"Embedding model '{self.model}' not found at {self.base_url} (404): check RAG_EMBEDDINGS") from None
        except self._openai.APIConnectionError:
            raise LLMError(f"Cannot reach {self.base_url} for embeddings: is the server running and OPENAI_BASE_URL right?") from None
        except self._openai.APIError as exc:
            raise LLMError(f"Embedding with {self.base_url} failed: {' '.join(str(exc).split())[:200]}") from None
        return [list(item.embedding) for item in sorted(response.data, key=lambda d: d.index)]


@register_embeddings("openai")
def _openai(model: str | None, options: dict[str, Any]) -> Embedder:
    return OpenAIEmbedder(model or "text-embedding-3-small", options)


class OllamaEmbedder(RemoteEmbedder):
    """Embeddings from an Ollama server (``OLLAMA_BASE_URL``) through langchain-ollama."""

    def __init__(self, model: str, options: Mapping[str, Any]) -> None:
        super().__init__(model)
        try:
            from langchain_ollama import OllamaEmbeddings
        except ImportError:
            raise ConfigError("ollama: embeddings need langchain-ollama: pip install 'rag-app[ollama]'") from None
        self.identity = f"ollama:{model}"
        self.base_url = str(options.get("ollama_base_url") or "http://localhost:11434").rstrip("/")
        self._client = OllamaEmbeddings(
            model=model, base_url=self.base_url, client_kwargs={"timeout": float(options.get("timeout", 60.0))}
        )

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from rag_app.errors import LLMError

        try:
            return [list(v) for v in self._client.embed_documents(texts)]
        except Exception as exc:  # ollama raises ConnectionError / ResponseError / httpx errors
            if getattr(exc, "status_code", None) == 404:
                raise LLMError(f"Embedding model '{self.model}' not found at {self.base_url}: run `ollama pull {self.model}`") from None
            if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
                raise LLMError(f"Cannot reach Ollama at {self.base_url}: is `ollama serve` running and OLLAMA_BASE_URL right?") from None
            raise LLMError(f"Ollama embeddings at {self.base_url} failed: {' '.join(str(exc).split())[:200]}") from None


@register_embeddings("ollama")
def _ollama(model: str | None, options: dict[str, Any]) -> Embedder:
    if not model:
        raise ConfigError("RAG_EMBEDDINGS=ollama needs a model: ollama:nomic-embed-text")
    return OllamaEmbedder(model, options)
