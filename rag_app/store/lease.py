"""One writer per collection across machines: a lease beside the collection on a shared Chroma server.

The writer lock (:mod:`rag_app.store.lock`) only sees processes of one machine. With
``CHROMA_HOST`` the writer also records ``writer:NAME = "IDENTITY|UNIX_TIME"`` in the
``rag-app.aliases`` metadata when it starts, renews the time with every commit it
publishes, and removes it when it ends. IDENTITY is the host and persist directory,
so a rerun after a crash on the same machine (serialised by the local lock) takes
over its own lease; another machine meanwhile gets :class:`LockBusy` instead of
interleaving its writes. A lease not renewed for :data:`LEASE_SECONDS` is stale (its
writer died) and is taken over. Chroma offers no compare-and-set, so two writers
starting within the same instant can both pass: this detects a misconfigured second
writer; the deployment to use is one scheduled writer (``reindex --every``).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_app.errors import LockBusy

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

ALIASES = "rag-app.aliases"
#: A lease not renewed for this long belongs to a writer that died.
LEASE_SECONDS = 15 * 60


def identity(persist_dir: Path) -> str:
    """This writer: the host and the directory of its records."""
    return f"{socket.gethostname()}:{persist_dir.expanduser().resolve()}"


def _metadata(client: "ClientAPI") -> dict[str, Any]:
    aliases = client.get_or_create_collection(ALIASES, embedding_function=None)
    return {k: v for k, v in (aliases.metadata or {}).items() if not k.startswith("hnsw:")}


def _write(client: "ClientAPI", mapping: dict[str, Any]) -> None:
    client.get_or_create_collection(ALIASES, embedding_function=None).modify(metadata=mapping)


def holder(mapping: dict[str, Any], name: str) -> tuple[str, float] | None:
    """``(identity, last renewal)`` of the lease on index ``name`` in ``mapping``, if any."""
    value = str(mapping.get(f"writer:{name}", ""))
    who, _, when = value.rpartition("|")
    try:
        return (who, float(when)) if who else None
    except ValueError:
        return None


def acquire(client: "ClientAPI", name: str, me: str) -> None:
    """Take the lease on index ``name`` or raise :class:`LockBusy` naming the live writer."""
    mapping = _metadata(client)
    current = holder(mapping, name)
    now = time.time()
    if current and current[0] != me and now - current[1] < LEASE_SECONDS:
        raise LockBusy(
            f"Another writer ({current[0]}) is writing index '{name}' on this Chroma server "
            f"(renewed {now - current[1]:.0f} s ago). Run reindex from one machine only (a scheduled "
            f"`reindex --every`); a writer that died is taken over after {LEASE_SECONDS // 60} minutes."
        )
    mapping[f"writer:{name}"] = f"{me}|{now:.0f}"
    _write(client, mapping)


def renew(mapping: dict[str, Any], name: str, me: str) -> None:
    """Refresh the lease inside ``mapping`` (written by the caller with its own update)."""
    mapping[f"writer:{name}"] = f"{me}|{time.time():.0f}"


def update(client: "ClientAPI", changes: dict[str, Any], name: str, me: str | None) -> None:
    """Apply ``changes`` to the aliases metadata, renewing ``me``'s lease on ``name`` in the same write."""
    mapping = _metadata(client)
    mapping.update(changes)
    if me:
        renew(mapping, name, me)
    _write(client, mapping)


def release(client: "ClientAPI", name: str, me: str) -> None:
    """Drop the lease if it is still ours."""
    mapping = _metadata(client)
    current = holder(mapping, name)
    if current and current[0] == me:
        mapping[f"writer:{name}"] = ""  # (modify may merge keys: blank it rather than drop it)
        _write(client, mapping)
