"""The ``rag-app`` command. Heavy imports happen inside the commands, never here.

Exit codes: 0 ok, 1 error, 2 usage, 3 index locked by another reindex,
4 configuration error, 5 ``--strict`` and files were skipped (or read with warnings), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from rag_app.cli import measure
from rag_app.cli.options import add_ask_options, add_index_options, open_app, query_keywords
from rag_app.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, RagError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag-app",
        description="Answer questions from your documents, with the sources they came from.",
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("reindex", help="index documents (only new or changed chunks are embedded)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: RAG_DATA, i.e. data/)")
    p.add_argument("--include", action="append", metavar="GLOB", help="only files matching GLOB (repeatable)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip files matching GLOB (repeatable)")
    p.add_argument("--verify", action="store_true", help="re-read files even if size and mtime are unchanged")
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    p.add_argument("--rebuild", action="store_true", help="build a fresh index with the current settings, then switch to it")
    p.add_argument("--every", metavar="INTERVAL", help="reindex forever on this interval (30s, 15m, 1h)")
    p.add_argument("--watch", action="store_true", help="reindex whenever files under the paths change, until SIGINT/SIGTERM")
    p.add_argument("--debounce", type=float, default=1.0, metavar="SECONDS", help="with --watch: wait for changes to settle this long (default 1)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait for another reindex to finish")
    p.add_argument("--follow-links", action="store_true", help="follow symlinks that point outside the folders being indexed (RAG_FOLLOW_LINKS)")
    p.add_argument("--strict", action="store_true", help="exit 5 when files were skipped or read with warnings")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_index_options(p)

    p = sub.add_parser("query", help="answer a question with sources")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--questions", metavar="FILE", help="answer every question in FILE (text lines or JSONL)")
    add_ask_options(p)
    p.add_argument("--json", action="store_true", help="print JSON (one object a line with --questions)")
    p.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    p.add_argument("--no-retrieval", action="store_true", help="ask the model alone, without context (e.g. a fine-tuned model)")
    add_index_options(p)

    p = sub.add_parser("repl", help="interactive questions and answers")
    add_ask_options(p)
    add_index_options(p)

    measure.add_parsers(sub)
    from rag_app.cli import serve as serve_cli

    serve_cli.add_parser(sub)
    from rag_app.cli import advise, finetune

    finetune.add_parser(sub)
    advise.add_parser(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rag-app")
    except Exception:
        return "unknown"


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="chunk", desc="embedding", leave=False, file=sys.stderr)
        bar["bar"].total = total  # a streaming reindex learns the total a group at a time
        bar["bar"].n = done
        bar["bar"].refresh()
        if done >= total:
            bar.pop("bar").close()

    return update


def cmd_reindex(args: argparse.Namespace) -> int:
    from rag_app.cli.render import report_text, warning_lines

    extra: dict[str, Any] = {}
    if args.include:
        extra["include"] = ",".join(args.include)
    if args.exclude:
        extra["exclude"] = ",".join(args.exclude)
    if args.follow_links:
        extra["follow_links"] = True
    if args.every:
        return _reindex_every(args, extra)
    if args.watch:
        from rag_app.cli.watch import reindex_watch

        with open_app(args, **extra) as app:
            return reindex_watch(app, args)
    with open_app(args, **extra) as app:
        report = app.reindex(
            args.paths or None, verify=args.verify, dry_run=args.dry_run, rebuild=args.rebuild,
            wait=args.wait, progress=_progress(),
        )
    for line in warning_lines(report):
        print(line, file=sys.stderr)
    print(json.dumps(report.to_dict()) if args.json else report_text(report))
    return EXIT_PARTIAL if args.strict and (report.skipped or report.warnings) else EXIT_OK


def _reindex_every(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    from rag_app.errors import ConfigError
    from rag_app.cli.schedule import parse_interval, run_every

    interval = parse_interval(args.every)
    if args.dry_run or args.rebuild:
        raise ConfigError("--every cannot be combined with --dry-run or --rebuild")
    with open_app(args, **extra) as app:
        return run_every(
            interval,
            lambda: app.reindex(args.paths or None, verify=args.verify, wait=args.wait),
            app.stop,
        )


def _read_questions(path: str) -> Iterator[tuple[str | None, str]]:
    """``(id, question)`` from a text file (a question a line, ``#`` comments) or JSONL."""
    from rag_app.errors import ConfigError
    from rag_app.jsonl import read_jsonl

    expected = 'a JSON object with a "question" field'
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read questions file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not (path.endswith(".jsonl") or text.lstrip().startswith("{")):
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield None, line.strip()
        return
    for number, record in read_jsonl(path, what="questions file", expected=expected):
        if "question" not in record:
            raise ConfigError(f"{path}:{number}: expected {expected}")
        qid = record.get("id")
        yield (None if qid is None else str(qid)), str(record["question"])


def cmd_query(args: argparse.Namespace) -> int:
    from rag_app.errors import ConfigError
    from rag_app.cli.render import answer_text, sources_block
    from rag_app.cli.support_view import after_stream

    if bool(args.question) == bool(args.questions):
        raise ConfigError("Give a QUESTION or --questions FILE (one of them)")
    options = query_keywords(args)
    with open_app(args) as app:
        if args.questions:
            for qid, question in _read_questions(args.questions):
                answer = app.query(question, retrieval=not args.no_retrieval, **options)
                if args.json:
                    print(json.dumps({"id": qid, **answer.to_dict()}), flush=True)
                else:
                    print(f"Q: {question}\nA: {answer_text(answer)}\n", flush=True)
            return EXIT_OK
        if args.stream:
            streaming = app.stream(args.question, retrieval=not args.no_retrieval, **options)
            for piece in streaming:
                if not args.json:
                    print(piece, end="", flush=True)
            assert streaming.result is not None
            if args.json:
                print(json.dumps(streaming.result.to_dict()))
            else:
                result = streaming.result
                extra = after_stream(result)
                print("\n\n" + (f"{extra}\n\n" if extra else "") + sources_block(result.sources, support=result.support))
            return EXIT_OK
        answer = app.query(args.question, retrieval=not args.no_retrieval, **options)
        print(json.dumps(answer.to_dict()) if args.json else answer_text(answer))
    return EXIT_OK


def cmd_repl(args: argparse.Namespace) -> int:
    from rag_app.cli.repl import Repl

    with open_app(args) as app:
        return Repl(app, options=query_keywords(args), history_file=app.settings.history_file).run()


def cmd_serve(args: argparse.Namespace) -> int:
    from rag_app.cli.serve import cmd_serve as run

    return run(args)


def cmd_finetune(args: argparse.Namespace) -> int:
    from rag_app.cli.finetune import cmd_finetune as run

    return run(args)


def cmd_advise(args: argparse.Namespace) -> int:
    from rag_app.cli.advise import cmd_advise as run

    return run(args)


COMMANDS = {
    "reindex": cmd_reindex,
    "query": cmd_query,
    "repl": cmd_repl,
    **measure.COMMANDS,
    "serve": cmd_serve,
    "finetune": cmd_finetune,
    "advise": cmd_advise,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_OK
    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `rag-app query ... | head`: the reader left; not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
