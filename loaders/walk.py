"""Find the files to index under the paths a user names."""

from __future__ import annotations

import fnmatch
import os
import stat
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
    skipped: list[tuple[Path, str]] | None = None,
) -> list[FoundFile]:
    """Files under ``paths`` that match ``include`` and not ``exclude``, sorted.

    A file named directly is always returned (an unsupported type is reported
    later as skipped, so a user sees why it was not indexed). Globs match a
    file's name or its path relative to the directory it was found under.
    Matching entries that cannot be indexed (a dangling symlink, a FIFO or
    device, a file that cannot be opened) are appended to ``skipped`` with why.
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
                except OSError as exc:
                    if skipped is not None:
                        dangling = path.is_symlink() and not path.exists()
                        skipped.append((path, f"dangling symlink to {os.readlink(path)}" if dangling else f"cannot read: {exc.strerror}"))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    if skipped is not None:
                        skipped.append((path, "not a regular file (a FIFO, socket or device)"))
                    continue
                if skipped is not None and not os.access(path, os.R_OK):
                    skipped.append((path, "cannot read: permission denied"))
                    continue
                found[path] = FoundFile(path, st.st_size, st.st_mtime_ns)
    return [found[p] for p in sorted(found)]
