"""Find the files to index under the paths a user names."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from loaders.readers import READERS

DEFAULT_INCLUDE: tuple[str, ...] = tuple(f"*{ext}" for ext in READERS)
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*",  # hidden files and directories: .git, .venv, .rag-index ...
    "__pycache__",
    "node_modules",
    "*.egg-info",
)


class SourceNotFound(FileNotFoundError):
    """A path given to index does not exist."""


@dataclass(frozen=True)
class FoundFile:
    """A file to consider, with the stat fields that tell whether it changed."""

    path: Path
    size: int
    mtime_ns: int


def _matches(name: str, rel: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}"


def walk(
    paths: Sequence[str | os.PathLike[str]],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
) -> list[FoundFile]:
    """Files under ``paths`` that match ``include`` and not ``exclude``, sorted.

    A file named directly is always returned (an unsupported type is reported
    later as skipped, so a user sees why it was not indexed). Globs match a
    file's name or its path relative to the directory it was found under.
    """
    found: dict[Path, FoundFile] = {}
    for raw in paths:
        root = Path(raw).expanduser()
        if not root.exists():
            raise SourceNotFound(f"{raw}: no such file or directory")
        root = root.resolve()
        if root.is_file():
            st = root.stat()
            found[root] = FoundFile(root, st.st_size, st.st_mtime_ns)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            dirnames[:] = sorted(
                d for d in dirnames if not _matches(d, _join(rel_dir, d), exclude)
            )
            for name in filenames:
                rel = _join(rel_dir, name)
                if _matches(name, rel, exclude) or not _matches(name, rel, include):
                    continue
                path = base / name
                try:
                    st = path.stat()
                except OSError:
                    continue  # vanished or a dangling link
                found[path] = FoundFile(path, st.st_size, st.st_mtime_ns)
    return [found[p] for p in sorted(found)]
