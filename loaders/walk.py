"""Find the files to index under the paths a user names."""

from __future__ import annotations

import errno
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


def _inside(target: str, roots: Sequence[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _link_problem(path: Path, real_roots: Sequence[str], follow_links: bool) -> str | None:
    """Why the symlink ``path`` is not followed (a loop, or a target outside the indexed folders), else None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symlink loop ({path.name} -> {os.readlink(path)})"
        return None  # dangling or unreadable: said by the caller
    target = os.path.realpath(path)
    if not follow_links and not _inside(target, real_roots):
        return f"link outside the folders being indexed (to {target}); --follow-links indexes it"
    return None


def walk(
    paths: Sequence[str | os.PathLike[str]],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    skipped: list[tuple[Path, str]] | None = None,
    follow_links: bool = False,
) -> list[FoundFile]:
    """Files under ``paths`` that match ``include`` and not ``exclude``, sorted.

    A file named directly is always returned (an unsupported type is reported
    later as skipped, so a user sees why it was not indexed). Globs match a
    file's name or its path relative to the directory it was found under.
    Symlinks whose target lies outside ``paths`` are not followed unless
    ``follow_links``; loops never are. Everything not indexed (a dangling or
    outside symlink, a loop, a FIFO or device, a file or directory that cannot
    be read) is appended to ``skipped`` with why.
    """
    found: dict[Path, FoundFile] = {}
    skip = skipped if skipped is not None else []
    resolved = []
    for raw in paths:
        root = Path(raw).expanduser()
        if not root.exists():
            raise SourceNotFound(f"{raw}: no such file or directory")
        resolved.append(root.resolve())
    real_roots = [str(r) for r in resolved]
    for root in resolved:
        if root.is_file():
            st = root.stat()
            found[root] = FoundFile(root, st.st_size, st.st_mtime_ns)
            continue
        visited = {str(root)}

        def unreadable(exc: OSError) -> None:
            skip.append((Path(exc.filename or root), f"cannot read directory: {exc.strerror}"))

        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=follow_links):
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            kept = []
            for d in sorted(dirnames):
                if _matches(d, _join(rel_dir, d), exclude):
                    continue
                full = base / d
                if full.is_symlink():
                    problem = _link_problem(full, real_roots, follow_links)
                    target = os.path.realpath(full)
                    if problem is None and _inside(os.path.realpath(base), [target]):
                        problem = f"symlink loop ({_join(rel_dir, d)} -> {target}, a folder it is in)"
                    if problem is not None:
                        skip.append((full, problem))
                        continue
                    if _inside(target, real_roots) or target in visited:
                        continue  # its target is walked where it is (or was, through another link)
                    visited.add(target)
                kept.append(d)
            dirnames[:] = kept
            for name in filenames:
                rel = _join(rel_dir, name)
                if _matches(name, rel, exclude) or not _matches(name, rel, include):
                    continue
                path = base / name
                problem = _link_problem(path, real_roots, follow_links) if path.is_symlink() else None
                if problem is not None:
                    skip.append((path, problem))
                    continue
                try:
                    st = path.stat()
                except OSError as exc:
                    dangling = path.is_symlink() and not path.exists()
                    skip.append((path, f"dangling symlink to {os.readlink(path)}" if dangling else f"cannot read: {exc.strerror}"))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    skip.append((path, "not a regular file (a FIFO, socket or device)"))
                    continue
                if not os.access(path, os.R_OK):
                    skip.append((path, "cannot read: permission denied"))
                    continue
                found[path] = FoundFile(path, st.st_size, st.st_mtime_ns)
    return [found[p] for p in sorted(found)]
