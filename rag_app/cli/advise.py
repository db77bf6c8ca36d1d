"""``rag-app advise``: the questionnaire, or with ``--measure`` a decision on measured numbers."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    import argparse

    from rag_app.tuning.advise import Advice


def add_parser(sub: Any) -> None:
    """``rag-app advise`` and its flags."""
    from rag_app.tuning.advise import CRITERIA

    p = sub.add_parser("advise", help="fine-tuning, RAG or hybrid? a recommendation from your criteria")
    for criterion in CRITERIA:
        p.add_argument(f"--{criterion.name}", choices=list(criterion.choices),
                       help=f"{criterion.question} " + "; ".join(f"{k}: {v}" for k, v in criterion.choices.items()))
    p.add_argument("--no-input", action="store_true", help="never ask; unanswered criteria count as unknown")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    m = p.add_argument_group("measured advice")
    m.add_argument("--measure", action="store_true", help="evaluate RAG, fine-tuned only and hybrid on your QA set and decide on the numbers")
    m.add_argument("--qa", metavar="FILE", help="QA set (JSONL or CSV, as for `rag-app eval`)")
    m.add_argument("--corpus", metavar="DIR", help="the documents the questions are about")
    m.add_argument("--train", action="store_true", help="fine-tune the base model on the QA set's facts first (see --train-minutes)")
    m.add_argument("--train-minutes", type=float, default=2.0, metavar="N",
                   help="time budget of each --train model (default 2)")
    m.add_argument("--train-on", choices=["qa", "docs", "both", "qa+grounded"], default="both",
                   help="with --train: question/answer pairs of the trained questions (qa), the text of the documents "
                        "they are about (docs), both as two models and rows (default), or qa pairs plus each question "
                        "with its gold passage (qa+grounded)")
    m.add_argument("--lora", action="store_true", help="with --train: train a LoRA adapter (merged) instead of all weights")
    m.add_argument("--base", default="smollm2", help="with --train: the model to fine-tune (default: smollm2, offline)")
    m.add_argument("--train-output", metavar="DIR", help="with --train: where the model goes (default: beside the evaluation index)")
    m.add_argument("--retrain", action="store_true", help="with --train --dynamic: also retrain on the changed facts and time it")
    m.add_argument("--model", metavar="DIR", help="without --train: a fine-tuned model directory to measure (default ./fine-tuned-model)")
    m.add_argument("--config", action="append", default=[], metavar="SPEC",
                   help="an extra setup to measure: a backend (openai:gpt-4o-mini) or an eval config (llm=ollama,k=6); repeatable")
    m.add_argument("--sample", type=int, default=30, metavar="N", help="questions to ask each setup (default 30)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--dynamic", action="store_true", help="also measure after changing the data (see `rag-app eval --dynamic`)")
    m.add_argument("--queries-per-day", type=float, default=1000.0, metavar="N", help="for the monthly cost (default 1000)")
    m.add_argument("--out", metavar="FILE", help="also write an HTML report with charts")


def cmd_advise(args: "argparse.Namespace") -> int:
    from rag_app.tuning.advise import CRITERIA, advise, interview, render

    answers: dict[str, str | None] = {c.name: getattr(args, c.name) for c in CRITERIA}
    if not args.no_input and sys.stdin.isatty() and any(v is None for v in answers.values()):
        answers = interview(answers)
        print()
    advice = advise(answers)
    if args.measure:
        return _measured(args, advice)
    print(json.dumps(advice.to_dict()) if args.json else render(advice))
    return 0


def _measured(args: "argparse.Namespace", advice: "Advice") -> int:
    from pathlib import Path

    from rag_app.tuning import advise_report
    from rag_app.tuning.advise_measure import measure
    from rag_app.errors import EXIT_INTERRUPTED

    if not args.qa or not args.corpus:
        raise ConfigError("advise --measure needs --qa FILE and --corpus DIR")
    if args.sample is not None and args.sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {args.sample}")
    m = measure(
        Path(args.qa), Path(args.corpus), model=args.model or (None if args.train else "./fine-tuned-model"),
        train=args.train, train_minutes=args.train_minutes, train_on=args.train_on, lora=args.lora,
        base=args.base, train_output=Path(args.train_output) if args.train_output else None, retrain=args.retrain,
        extra=args.config, sample=args.sample, seed=args.seed, dynamic=args.dynamic,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    report = advise_report.assemble(m, qa=args.qa, corpus=args.corpus, seed=args.seed, train=args.train,
                                    queries_per_day=args.queries_per_day, criteria=advice.to_dict())
    if report is None:  # interrupted before any setup was measured
        print(f"{m.interrupted}; nothing to report", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.out:
        Path(args.out).write_text(advise_report.html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(advise_report.text(report))
        print(f"\n(From your criteria alone: {advice.recommendation}.)")
        if args.out:
            print(f"HTML report: {args.out}")
    return EXIT_INTERRUPTED if m.interrupted else 0
