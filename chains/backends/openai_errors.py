"""One line for each way an OpenAI-compatible server can fail, saying what to change.

The retries themselves are the openai client's (langchain-openai passes ``max_retries``
to it: 429, 5xx, timeouts and refused connections are retried with exponential backoff);
this only explains the error that is left when they are spent.
"""

from __future__ import annotations


def explain_openai_error(
    exc: BaseException,
    *,
    model: str,
    base_url: str,
    max_retries: int,
    timeout: float | None,
    key_setting: str = "OPENAI_API_KEY",
    model_setting: str = "RAG_OPENAI_MODEL",
) -> str | None:
    """The message for ``exc``, or ``None`` when it is not an ``openai`` error."""
    try:
        import openai
    except ImportError:  # pragma: no cover - the backend could not exist without it
        return None
    if not isinstance(exc, openai.OpenAIError):
        return None
    tries = max_retries + 1
    tried = f"after {tries} attempt{'s' if tries > 1 else ''}"
    if isinstance(exc, openai.AuthenticationError):
        return f"The server at {base_url} rejected the API key (401): check {key_setting}"
    if isinstance(exc, openai.PermissionDeniedError):
        return f"The API key may not use '{model}' at {base_url} (403): check the key's permissions"
    if isinstance(exc, openai.NotFoundError):
        return f"Model '{model}' not found at {base_url} (404): check {model_setting}"
    if isinstance(exc, openai.RateLimitError):
        return f"Rate limited by {base_url} (429) {tried}: wait and retry, or raise RAG_MAX_RETRIES"
    if isinstance(exc, openai.APITimeoutError):
        within = f" within {timeout:g}s" if isinstance(timeout, (int, float)) else ""
        return f"{base_url} did not answer{within} ({tried}): raise RAG_TIMEOUT or check the server"
    if isinstance(exc, openai.APIConnectionError):
        return f"Cannot reach {base_url} ({tried}): is the server running and the URL right?"
    if isinstance(exc, openai.BadRequestError):
        text = " ".join(str(exc).split())
        lowered = text.lower()
        if "context" in lowered and ("length" in lowered or "window" in lowered or "maximum" in lowered):
            return (
                f"The prompt is longer than {model}'s context window: lower RAG_K or RAG_CHUNK_SIZE, "
                "or set RAG_N_CTX to the model's window"
            )
        return f"{base_url} refused the request (400): {text[:300]}"
    if isinstance(exc, openai.APIStatusError):
        return f"{base_url} failed with HTTP {exc.status_code} {tried}"
    return f"{base_url}: {' '.join(str(exc).split())[:300]}"
