"""Jupyter notebooks (JSON) and e-mail (stdlib ``email``).

``.ipynb``: one section per markdown or code cell, cited as ``analysis.ipynb cell 7``
(cells counted from 1 as the notebook shows them; outputs are not indexed).
``.eml``: the headers people search by (subject, from, to, date) and the text
body, cited at the lines of the file the body sits on when it is stored as
plain text; attachments are named in a warning, not read.
"""

from __future__ import annotations

import json
from pathlib import Path

from loaders.decode import decode
from loaders.section import ReadContext, Section, UnreadableFile


def read_ipynb(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise TypeError("'cells' is not a list of cells")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"not a Jupyter notebook: {type(exc).__name__}: {exc}") from None
    kernel = (notebook.get("metadata") or {}).get("kernelspec") if isinstance(notebook.get("metadata"), dict) else None
    language = str(kernel.get("language") or "") if isinstance(kernel, dict) else ""
    sections = []
    heading = ""
    for number, cell in enumerate(cells, 1):
        source = cell.get("source", "")
        body = "".join(source) if isinstance(source, list) else str(source)
        if not body.strip():
            continue
        kind = cell.get("cell_type")
        if kind == "markdown":
            titles = [line.lstrip("#").strip() for line in body.splitlines() if line.startswith("#")]
            heading = titles[0] if titles else heading
        elif kind == "code":
            body = f"{language} code:\n{body}" if language else body
        else:
            continue
        sections.append(Section(body.strip(), page=number, kind="ipynb", encoding=encoding, headings=heading))
    if not sections:
        raise UnreadableFile("no markdown or code cells with text")
    return sections


def _body_lines(raw: str, body: str) -> tuple[int, ...] | None:
    """The file line of each body line, when the body is stored as plain text; else None."""
    raw_lines = raw.splitlines()
    out: list[int] = []
    at = 0
    for line in body.splitlines():
        wanted = line.strip()
        if not wanted:
            blank = at < len(raw_lines) and not raw_lines[at].strip()
            out.append(at + 1 if blank or not out else out[-1])
            at += blank
            continue
        while at < len(raw_lines) and raw_lines[at].strip() != wanted:
            at += 1
        if at == len(raw_lines):
            return None
        out.append(at + 1)
        at += 1
    return tuple(out)


def read_eml(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    from email import policy
    from email.parser import BytesParser

    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
    except (LookupError, ValueError, AttributeError) as exc:
        raise UnreadableFile(f"malformed e-mail: {type(exc).__name__}: {exc}") from None
    if part is not None and part.get_content_type() == "text/html":
        from loaders.readers import html_lines

        body = "\n".join(text for _, text in html_lines(body))
    for attachment in message.iter_attachments():
        name = attachment.get_filename() or attachment.get_content_type()
        ctx.warn(f"attachment {name} not read (save it next to the mail to index it)")
    head = [f"{name}: {message[name]}" for name in ("Subject", "From", "To", "Date") if message[name]]
    if not body.strip() and not head:
        raise UnreadableFile("no subject and no text body")
    raw = data.decode("utf-8", errors="replace")
    subject = str(message["Subject"] or "")
    sections = [Section("\n".join(head), line_map=_body_lines(raw, "\n".join(head)), kind="eml", headings=subject)] if head else []
    if body.strip():
        text = body.strip("\n")
        sections.append(Section(text, line_map=_body_lines(raw, text), kind="eml", headings=subject))
    return sections
