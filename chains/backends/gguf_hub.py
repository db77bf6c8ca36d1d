"""Local GGUF models by name: ``RAG_LOCAL_MODEL`` / ``--llm local:SPEC``.

``SPEC`` is a ``.gguf`` file path, or ``REPO/FILE.gguf`` on the Hugging Face Hub
(``bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf``): the file is
downloaded once into the Hugging Face cache (``HF_HOME``) with ``huggingface_hub``, with its
progress bar, and taken from the cache afterwards. ``HF_HUB_OFFLINE=1`` never touches the
network; ``HF_ENDPOINT`` points at a mirror. Every failure is one line saying what to do.
"""

from __future__ import annotations

from pathlib import Path

from chains.errors import BackendError, MissingDependency


def is_hub_spec(spec: str) -> bool:
    """``owner/repo/file.gguf`` (at least three parts), not an existing or absolute/relative path."""
    parts = spec.split("/")
    local = spec.startswith(("/", ".", "~")) or "\\" in spec or Path(spec).expanduser().exists()
    return not local and len(parts) >= 3 and all(parts) and spec.lower().endswith(".gguf")


def resolve_model(spec: str) -> Path:
    """The ``.gguf`` file ``spec`` names: a path as it is, a Hub spec downloaded (once) into the cache."""
    spec = spec.strip()
    if not is_hub_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise BackendError(
                f"Local model file not found: {path} (set RAG_LOCAL_MODEL to a .gguf file, "
                "or to REPO/FILE.gguf on the Hugging Face Hub)"
            )
        return path
    owner, name, *rest = spec.split("/")
    repo, filename = f"{owner}/{name}", "/".join(rest)
    try:
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
        from huggingface_hub.errors import (
            EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
        )
    except ImportError:
        raise MissingDependency(f"Downloading {spec} needs huggingface_hub: pip install huggingface_hub") from None
    try:  # downloaded before: no network at all
        return Path(hf_hub_download(repo_id=repo, filename=filename, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if constants.HF_HUB_OFFLINE:
        raise BackendError(
            f"{spec} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
            "download it once online, or set RAG_LOCAL_MODEL to a .gguf file"
        )
    try:
        # one quick look first (huggingface_hub's own download retries a dead network for ~30 s)
        get_hf_file_metadata(hf_hub_url(repo, filename), retry_on_errors=False)
        return Path(hf_hub_download(repo_id=repo, filename=filename))
    except GatedRepoError:
        raise BackendError(f"{repo} is gated on the Hugging Face Hub: accept its terms there and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise BackendError(
            f"No model repository {repo} on {constants.ENDPOINT} (check the name; a private one needs HF_TOKEN)"
        ) from None
    except EntryNotFoundError:
        raise BackendError(f"{repo} has no file {filename} (see the repository's file list for the .gguf names)") from None
    except HfHubHTTPError as exc:
        raise BackendError(f"Cannot download {spec}: {' '.join(str(exc).split())[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS, timeouts: all "unreachable"
        raise BackendError(
            f"Cannot download {spec}: {constants.ENDPOINT} is unreachable ({type(exc).__name__}) and the file "
            "is not cached (connect once, or set RAG_LOCAL_MODEL to a .gguf file)"
        ) from None
