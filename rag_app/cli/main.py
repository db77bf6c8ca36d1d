"""The ``rag-app`` command. Heavy imports happen inside the commands, never here.

Exit codes: 0 ok, 1 error, 2 usage, 3 index locked by another reindex,
4 configuration error, 5 ``--strict`` and files were skipped, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rag_app.cli import measure
from rag_app.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, RagError

if TYPE_CHECKING:
    from rag_app.app import RagApp


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index")
    group.add_argument("--persist-dir", help="Chroma directory (RAG_PERSIST_DIR)")
    group.add_argument("--collection", help="collection name (RAG_COLLECTION)")
    group.add_argument("--embeddings", help="embedding model (RAG_EMBEDDINGS)")


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
    p.add_argument("--strict", action="store_true", help="exit 5 when files were skipped")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(p)

    p = sub.add_parser("query", help="answer a question with sources")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--questions", metavar="FILE", help="answer every question in FILE (text lines or JSONL)")
    _ask_options(p)
    p.add_argument("--json", action="store_true", help="print JSON (one object a line with --questions)")
    p.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    p.add_argument("--no-retrieval", action="store_true", help="ask the model alone, without context (e.g. a fine-tuned model)")
    _common(p)

    p = sub.add_parser("repl", help="interactive questions and answers")
    _ask_options(p)
    _common(p)

    measure.add_parsers(sub, _common)
    from rag_app.cli import serve as serve_cli

    serve_cli.add_parser(sub, _common, _ask_options)
    from rag_app.tuning import advise, finetune

    finetune.add_parser(sub)
    advise.add_parser(sub)
    return parser


def _ask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, help="chunks to retrieve (RAG_K)")
    p.add_argument("--llm", help="backend: local, extractive, openai, azure, ollama, ... (RAG_LLM)")
    p.add_argument("--unsupported", choices=["flag", "fallback", "drop"], help="when no sentence of the answer is supported by the sources (RAG_UNSUPPORTED)")
    p.add_argument("--min-relevance", metavar="SCORE", help="answer 'not in the documents' without the LLM when the best match scores less (RAG_MIN_RELEVANCE; 0 = off)")
    from rag_app.cli.options import add_retrieval_options

    add_retrieval_options(p)


def _ask(args: argparse.Namespace) -> dict[str, Any]:
    return {"k": args.k, "llm": args.llm, "unsupported": args.unsupported, "min_relevance": args.min_relevance}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rag-app")
    except Exception:
        return "unknown"


def _app(args: argparse.Namespace, **extra: Any) -> "RagApp":
    from rag_app.settings import Settings
    from rag_app.app import RagApp

    settings = Settings.load(
        args.env_file,
        persist_dir=args.persist_dir,
        collection=args.collection,
        embeddings=args.embeddings,
        **extra,
    )
    return RagApp(settings)


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="chunk", desc="embedding", leave=False, file=sys.stderr)
        bar["bar"].n = done
        bar["bar"].refresh()
        if done >= total:
            bar["bar"].close()

    return update


def cmd_reindex(args: argparse.Namespace) -> int:
    from rag_app.cli.render import report_text

    extra: dict[str, Any] = {}
    if args.include:
        extra["include"] = ",".join(args.include)
    if args.exclude:
        extra["exclude"] = ",".join(args.exclude)
    if args.every:
        return _reindex_every(args, extra)
    if args.watch:
        from rag_app.cli.watch import reindex_watch

        with _app(args, **extra) as app:
            return reindex_watch(app, args)
    with _app(args, **extra) as app:
        report = app.reindex(
            args.paths or None, verify=args.verify, dry_run=args.dry_run, rebuild=args.rebuild,
            wait=args.wait, progress=_progress(),
        )
    for skipped in report.skipped:
        print(f"warning: skipped {skipped.source}: {skipped.reason}", file=sys.stderr)
    print(json.dumps(report.to_dict()) if args.json else report_text(report))
    return EXIT_PARTIAL if args.strict and report.skipped else EXIT_OK


def _reindex_every(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    from rag_app.errors import ConfigError
    from rag_app.cli.schedule import parse_interval, run_every

    interval = parse_interval(args.every)
    if args.dry_run or args.rebuild:
        raise ConfigError("--every cannot be combined with --dry-run or --rebuild")
    with _app(args, **extra) as app:
        return run_every(
            interval,
            lambda: app.reindex(args.paths or None, verify=args.verify, wait=args.wait),
            app.stop,
        )


def _read_questions(path: str) -> Iterator[tuple[str | None, str]]:
    from rag_app.errors import ConfigError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read questions file {path}: {exc.strerror}") from None
    jsonl = path.endswith(".jsonl") or text.lstrip().startswith("{")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or (not jsonl and line.lstrip().startswith("#")):
            continue
        if not jsonl:
            yield None, line.strip()
            continue
        try:
            record = json.loads(line)
            question = str(record["question"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(f"{path}:{number}: expected a JSON object with a \"question\" field") from None
        qid = record.get("id")
        yield (None if qid is None else str(qid)), question


def cmd_query(args: argparse.Namespace) -> int:
    from rag_app.cli.options import retrieval_kwargs
    from rag_app.errors import ConfigError
    from rag_app.cli.render import answer_text, sources_block
    from rag_app.cli.support_view import after_stream

    if bool(args.question) == bool(args.questions):
        raise ConfigError("Give a QUESTION or --questions FILE (one of them)")
    options = retrieval_kwargs(args)
    with _app(args, **_ask(args)) as app:
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
    from rag_app.cli.options import retrieval_kwargs
    from rag_app.cli.repl import Repl

    with _app(args, **_ask(args)) as app:
        return Repl(app, options=retrieval_kwargs(args), history_file=app.settings.history_file).run()


def cmd_serve(args: argparse.Namespace) -> int:
    from rag_app.cli.serve import cmd_serve as run

    return run(args)


def cmd_finetune(args: argparse.Namespace) -> int:
    from rag_app.tuning.finetune import cmd_finetune as run

    return run(args)


def cmd_advise(args: argparse.Namespace) -> int:
    from rag_app.tuning.advise import cmd_advise as run

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
