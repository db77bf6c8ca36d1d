"""Style adherence before/after fine-tuning, and RAG vs fine-tuned vs hybrid on the sample corpus.

    PYTHONPATH=. python bench/finetune_style.py [--work DIR] [--epochs 3] [--lr 1e-4] [--limit N]

1. fine-tunes SmolLM2-135M (offline base) on finetune/northwind_style.jsonl (skipped when
   WORK/model already holds a model trained on the same data);
2. asks the held-out prompts of finetune/northwind_style_heldout.jsonl in five modes:
   base model alone, fine-tuned alone (``--no-retrieval``), RAG with the local GGUF backend,
   RAG with the base model through hf, and the hybrid (fine-tuned model + retrieval over data/);
3. prints per mode: format match rate (the whole answer matches the three-line house format),
   signature rate (the sign-off line is present), accuracy (the answer contains the expected
   fact) and generation latency p50.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIGN = "Happy riding! - The Northwind Bikes team"
FORMAT = re.compile(r"^\*\*Short answer:\*\* \S.*\n\*\*Details:\*\* \S.*\n" + re.escape(SIGN) + r"$")


def format_match(answer: str) -> bool:
    return bool(FORMAT.match(answer.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/rag-app-finetune-bench")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--limit", type=int, help="ask only the first N held-out prompts")
    parser.add_argument("--modes", default="base,finetuned,rag-local,rag-hf,hybrid")
    parser.add_argument("--max-tokens", type=int, default=80)
    args = parser.parse_args()

    from rag_app import RagApp, Settings
    from rag_app.tuning.finetune import FinetuneConfig, finetune
    from rag_app.tuning.finetune_examples import file_hash

    work = Path(args.work)
    data = ROOT / "finetune" / "northwind_style.jsonl"
    model = work / "model"
    card_file = model / "model_card.json"
    if not card_file.is_file() or json.loads(card_file.read_text())["data_hash"] != file_hash(data):
        t0 = time.perf_counter()
        result = finetune(FinetuneConfig(data=str(data), output=str(model), epochs=args.epochs, learning_rate=args.lr,
                                         batch_size=4, max_length=256, eval_split=0.1))
        print(f"fine-tuned in {time.perf_counter() - t0:.0f} s: {result.steps} steps, train loss "
              f"{result.train_losses[0][1]:.3f} -> {result.train_losses[-1][1]:.3f}, eval loss "
              f"{result.eval_loss_before:.3f} -> {result.eval_loss:.3f}", flush=True)
    card = json.loads(card_file.read_text())
    print(f"model: {card['method']}, {card['steps']} steps, lr {card['hyperparameters']['learning_rate']}, "
          f"eval loss {card['eval_loss_before']:.3f} -> {card['eval_loss']:.3f}", flush=True)

    rows = [json.loads(line) for line in (ROOT / "finetune" / "northwind_style_heldout.jsonl").read_text().splitlines()]
    rows = rows[: args.limit] if args.limit else rows
    app = RagApp(Settings(), persist_dir=str(work / "index"), llm="extractive", max_tokens=args.max_tokens)
    app.reindex([ROOT / "data"])
    modes = {
        "base": ("hf", False),
        "finetuned": (f"hf:{model}", False),
        "rag-local": ("local", True),
        "rag-hf": ("hf", True),
        "hybrid": (f"hf:{model}", True),
    }
    table = []
    for mode in args.modes.split(","):
        llm, retrieval = modes[mode]
        app.llm(llm)  # load outside the timings
        formats = signs = correct = 0
        latencies = []
        for row in rows:
            answer = app.query(row["question"], llm=llm, retrieval=retrieval)
            text = answer.answer
            latencies.append(answer.timings_ms["generate"] + answer.timings_ms["retrieve"])
            formats += format_match(text)
            signs += SIGN in text
            correct += any(a.lower() in text.lower() for a in row["answer"])
            print(json.dumps({"mode": mode, "id": row["id"], "answer": text}), flush=True)
        n = len(rows)
        table.append((mode, formats / n, signs / n, correct / n, statistics.median(latencies)))
    print(f"\n{len(rows)} held-out prompts; answers up to {args.max_tokens} tokens\n")
    print("| mode | retrieval | format match | signature | accuracy | latency p50 (ms) |")
    print("|---|---|---|---|---|---|")
    for mode, fmt, sign, acc, p50 in table:
        print(f"| {mode} | {'yes' if modes[mode][1] else 'no'} | {fmt:.0%} | {sign:.0%} | {acc:.0%} | {p50:.0f} |")
    app.close()


if __name__ == "__main__":
    main()
