"""The Chroma client: the embedded store in RAG_PERSIST_DIR, or a `chroma run` server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_app.errors import ConfigError, IndexMissing

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from rag_app.settings import Settings


def open_client(settings: "Settings", create: bool) -> "ClientAPI":
    """A connected client; ``create=False`` refuses to start an embedded store that is not there."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path = settings.persist_path
    if not settings.chroma_host and not create and not path.exists():
        raise IndexMissing(f"No index at {path}: run `rag-app reindex` first.")
    # The embedded store lives in RAG_PERSIST_DIR; with a server, only our bookkeeping (records, lock) does.
    path.mkdir(parents=True, exist_ok=True)
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_host:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    s = settings
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
