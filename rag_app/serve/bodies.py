"""Request bodies as pydantic models: a malformed field is a 400 that names it.

Unknown fields are accepted and ignored on the OpenAI route (clients send
``temperature``, ``max_tokens``, ``n``, ...) and on ``/query``; ``/reindex``
takes its two fields only. Types are strict: ``"k": "4"`` or a content part
``{"type": "text", "text": 5}`` is an error, not a guess.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

#: Words pydantic puts in an error's location for the member of a union that failed.
_UNION_MEMBERS = ("str", "int", "float", "bool", "none", "list", "dict")


class ContentPart(BaseModel):
    """One part of a message's content; only ``text`` parts are read (images and the like are ignored)."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr
    text: Optional[StrictStr] = None

    def text_of(self) -> str:
        return (self.text or "") if self.type == "text" else ""


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: StrictStr
    content: Union[StrictStr, list[ContentPart], None] = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text_of() for part in self.content)
        return self.content or ""


class RetrievalFields(BaseModel):
    """The query flags a request may set; unset fields keep the server's defaults."""

    model_config = ConfigDict(extra="allow")
    k: Optional[StrictInt] = Field(None, ge=1, le=100)
    fetch_k: Optional[StrictInt] = Field(None, ge=1, le=100)
    min_score: Union[StrictFloat, StrictInt, None] = None
    mmr: Optional[StrictBool] = None
    hybrid: Optional[StrictBool] = None
    where: Optional[StrictStr] = None
    chain: Optional[Literal["stuff", "map_reduce"]] = None

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RetrievalFields.model_fields if getattr(self, name) is not None}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: Optional[StrictBool] = None


class ChatRequest(RetrievalFields):
    """``POST /v1/chat/completions``."""

    messages: list[Message] = Field(min_length=1)
    model: Optional[StrictStr] = None
    stream: Optional[StrictBool] = None
    stream_options: Optional[StreamOptions] = None


class QueryRequest(RetrievalFields):
    """``POST /query``: ``query --json`` in."""

    question: StrictStr
    llm: Optional[StrictStr] = None


class ReindexRequest(BaseModel):
    """``POST /reindex``: it indexes the server's ``RAG_DATA`` paths, nothing a client names."""

    model_config = ConfigDict(extra="forbid")
    verify: StrictBool = False
    rebuild: StrictBool = False


def field_path(loc: tuple[Any, ...]) -> str:
    """``("messages", 0, "content", "list[ContentPart]", 0, "text")`` → ``messages[0].content[0].text``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part) or str(part) in _UNION_MEMBERS or str(part).startswith("function-"):
            continue  # which member of a union failed: not a field
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def problems(error: ValidationError, limit: int = 3) -> str:
    """The most specific problems of ``error``, one per field, each naming the field."""
    errors = error.errors(include_url=False)
    deepest = max(len(e["loc"]) for e in errors)
    # A union reports every member's failure; the deepest location is the one that applies.
    chosen = [e for e in errors if len(e["loc"]) == deepest] + [e for e in errors if len(e["loc"]) < deepest]
    seen: dict[str, str] = {}
    for e in chosen:
        path = field_path(tuple(e["loc"]))
        if not any(path.startswith(p) or p.startswith(path) for p in seen):
            seen[path] = e["msg"]
    return "; ".join(f"`{path}`: {msg}" for path, msg in list(seen.items())[:limit])
