"""What a reindex did (or, with ``dry_run``, would do): the report every entry point prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

#: ``progress(done, total)``: chunks embedded so far.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


@dataclass(frozen=True)
class FileWarning:
    """Something lost or doubtful in a file that was still indexed, with where in it."""

    source: str
    reason: str
    line: int | None = None
    page: int | None = None


@dataclass
class IndexReport:
    """What a reindex did (or, with ``dry_run``, would do)."""

    files: int = 0
    files_read: int = 0
    #: files found that are in the index after this run (read now or unchanged)
    files_indexed: int = 0
    #: of those, files whose content had not changed since the last run
    files_unchanged: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[FileWarning] = field(default_factory=list)
    chunks: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    embedded: int = 0
    tokens_to_embed: int = 0
    changed_files: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [asdict(s) for s in self.skipped]
        data["warnings"] = [asdict(w) for w in self.warnings]
        data["duration_s"] = round(self.duration_s, 3)
        return data
