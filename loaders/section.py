"""What a reader makes of a file: text sections that remember their place, or why not, plus warnings."""

from __future__ import annotations

from dataclasses import dataclass, field


class UnreadableFile(Exception):
    """The file was skipped; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Section:
    """A piece of a file's text and its position in the file.

    ``line_map[i]`` is the 1-based line of the source file that line ``i`` of
    ``text`` came from (for Office files: the paragraph or row number);
    ``page`` is the 1-based PDF page (or slide, chapter, notebook cell), else
    ``None``; ``headings`` is the heading path (or sheet name) the text sits under.
    """

    text: str
    line_map: tuple[int, ...] | None = None
    page: int | None = None
    kind: str = "text"
    encoding: str = "utf-8"  # how the file's bytes were decoded (recorded when not UTF-8)
    headings: str = ""

    def source_line(self, text_line: int) -> int:
        """Source line (1-based) of 0-based line ``text_line`` of this section."""
        if self.line_map is None:
            return text_line + 1
        if not self.line_map:
            return 1
        return self.line_map[min(text_line, len(self.line_map) - 1)]


@dataclass(frozen=True)
class Notice:
    """Something lost or doubtful in a file that was still indexed (a ragged CSV row, a scanned page)."""

    reason: str
    line: int | None = None
    page: int | None = None


@dataclass
class ReadContext:
    """What a reader may need besides the bytes: a forced encoding; where it reports warnings."""

    encoding: str | None = None  # RAG_ENCODING: decode text files with this, never guess
    notices: list[Notice] = field(default_factory=list)

    def warn(self, reason: str, line: int | None = None, page: int | None = None) -> None:
        self.notices.append(Notice(reason, line, page))
