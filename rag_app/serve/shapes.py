"""OpenAI chat-completion shapes in and out, plus the sources rag-app adds.

Pure functions over plain dicts (no web framework), so they are easy to test
and to read next to the OpenAI reference.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from rag_app.results import Answer


class BadRequest(ConfigError):
    """The request body is not what the route expects (HTTP 400)."""


def _text(content: Any) -> str:
    """A message's content: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    if content is None:
        return ""
    raise BadRequest("A message's content must be a string or a list of text parts")


def split_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The last user message (the question) and the earlier ``(question, answer)`` turns.

    System messages are ignored: the server's grounded prompt decides how the model answers.
    """
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of {role, content} objects")
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise BadRequest("Each message must be an object with `role` and `content`")
        role, text = message["role"], _text(message.get("content"))
        if role == "user":
            if pending is not None:
                turns.append((pending, ""))
            pending = text
        elif role == "assistant" and pending is not None:
            turns.append((pending, text))
            pending = None
    if pending is None or not pending.strip():
        raise BadRequest("The last message must be a non-empty user message: it is the question")
    return pending, turns


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def rag_fields(answer: "Answer") -> dict[str, Any]:
    """What rag-app adds to a completion: ``sources`` etc., exactly as ``query --json`` has them."""
    data = answer.to_dict()
    extra = {"sources": data["sources"], "answer": data["answer"]}
    for key in ("cited_answer", "support", "timings_ms"):
        if key in data:
            extra[key] = data[key]
    return extra


def openai_usage(answer: "Answer") -> dict[str, int]:
    prompt = int(answer.usage.get("prompt_tokens", 0) or 0)
    completion = int(answer.usage.get("completion_tokens", 0) or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(answer: "Answer", model: str) -> dict[str, Any]:
    """A ``chat.completion`` object whose ``sources`` travel with the answer."""
    return {
        "id": new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": openai_usage(answer),
        **rag_fields(answer),
    }


def chunk(completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, so its clients show ``message``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
