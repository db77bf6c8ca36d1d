"""Answer quality of the offline answerers on the shared evaluation sets.

For each answerer (``--llm``, default ``extractive`` and ``local``) and each set (``--set``,
default ``squad_expmrc`` and ``python_faq``) it asks the questions through ``RagApp.query`` with
the default retrieval (no gold paragraph) and prints:

- ``correct``: the share of answers containing a reference (short references: SQuAD exact match
  or containment; long ones, the Python FAQ's whole sections: the eval harness's key-token proxy);
- ``F1``: SQuAD token F1 against the best reference;
- ``words``: mean answer length in words (and the longest answer);
- ``p50``: median wall time of one query (retrieval, answer and support check).

Scoring is the eval harness's own (:mod:`rag_app.measure.scoring`, :mod:`rag_app.measure.metrics`).
Extractive answers every question; ``local`` a fixed seeded sample (``--sample``, default 60).
Each corpus is indexed once into ``--eval-dir`` and reused::

    nice -n 10 python bench/answer_quality.py --llm extractive
    nice -n 10 python bench/answer_quality.py --llm local --sample 60 --set squad_expmrc
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import EVALDATA, corpus_dir, machine

SETS = ("squad_expmrc", "python_faq")
LLMS = ("extractive", "local")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm", default=",".join(LLMS), help="answerers, comma separated (default: extractive,local)")
    parser.add_argument("--set", default=",".join(SETS), help="QA sets, comma separated (default: both)")
    parser.add_argument("--sample", type=int, default=None,
                        help="questions per set, a fixed seeded sample (default: all for extractive, 60 for others)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-dir", default="/tmp/rag-answer-quality", help="where the evaluation indexes live (reused)")
    parser.add_argument("--rows", help="write the per-question rows (JSONL) here")
    args = parser.parse_args()

    from rag_app.measure import metrics
    from rag_app.measure.eval_config import parse_config
    from rag_app.measure.evaluate import Evaluator
    from rag_app.measure.qa_sets import load_qa, select
    from rag_app.settings import Settings
    from chains.support import strip_markers

    print(f"# answer quality on {machine()}")
    print(f"{'set':<14} {'llm':<12} {'n':>4} {'correct':>8} {'F1':>6} {'words':>6} {'max':>4} {'p50 ms':>8}")
    rows_out = open(args.rows, "w", encoding="utf-8", buffering=1) if args.rows else None  # line by line
    for name in args.set.split(","):
        corpus = corpus_dir(name)
        items = load_qa(EVALDATA / name / "qa.jsonl")
        evaluator = Evaluator(Settings.load(None), corpus, Path(args.eval_dir) / name)
        try:
            for llm in args.llm.split(","):
                size = args.sample if args.sample is not None else (None if llm == "extractive" else 60)
                chosen = select(items, sample=size, seed=args.seed)
                config = parse_config(f"llm={llm}")
                app = evaluator.app(config)
                app.llm(llm)  # load the model before timing
                correct, f1s, lengths, times = [], [], [], []
                for item in chosen:
                    started = time.perf_counter()
                    row = evaluator.ask(app, config, item)
                    times.append((time.perf_counter() - started) * 1000)
                    answer = strip_markers(row.get("answer") or "")
                    correct.append(bool(row.get("correct")))
                    f1s.append(metrics.token_f1(answer, item.references))
                    lengths.append(len(answer.split()))
                    if rows_out:
                        rows_out.write(json.dumps({"set": name, "llm": llm, "id": item.id, "question": item.question,
                                                   "reference": item.answer if len(item.answer or "") < 300 else None,
                                                   "answer": answer, "correct": correct[-1], "f1": round(f1s[-1], 3),
                                                   "hit": row.get("hit"), "ms": round(times[-1], 1)}) + "\n")
                n = len(chosen)
                print(f"{name:<14} {llm:<12} {n:>4} {sum(correct) / n:>8.3f} {statistics.mean(f1s):>6.3f} "
                      f"{statistics.mean(lengths):>6.1f} {max(lengths):>4} {statistics.median(times):>8.1f}", flush=True)
        finally:
            evaluator.close()
    if rows_out:
        rows_out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
