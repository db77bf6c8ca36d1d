"""What a reader makes of a file: text sections that remember their source lines, or why not."""

from __future__ import annotations

from dataclasses import dataclass


class UnreadableFile(Exception):
    """The file was skipped; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Section:
    """A piece of a file's text and its position in the file.

    ``line_map[i]`` is the 1-based line of the source file that line ``i`` of
    ``text`` came from; ``page`` is the 1-based PDF page, else ``None``.
    """

    text: str
    line_map: tuple[int, ...] | None = None
    page: int | None = None
    kind: str = "text"
    encoding: str = "utf-8"  # how the file's bytes were decoded (recorded when not UTF-8)

    def source_line(self, text_line: int) -> int:
        """Source line (1-based) of 0-based line ``text_line`` of this section."""
        if self.line_map is None:
            return text_line + 1
        if not self.line_map:
            return 1
        return self.line_map[min(text_line, len(self.line_map) - 1)]
