"""``rag-app finetune``: the command line of :func:`rag_app.tuning.finetune.finetune`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


def add_parser(sub: Any) -> None:
    """``rag-app finetune`` and its flags."""
    p = sub.add_parser("finetune", help="fine-tune a Hugging Face model on JSONL examples (style, format)")
    p.add_argument("data", help="JSONL: {\"text\"}, {\"prompt\",\"completion\"} or {\"messages\": [...]} a line")
    p.add_argument("--base", default="smollm2", help="model directory or hub name (default: smollm2, offline)")
    p.add_argument("--output", "-o", default="fine-tuned-model", help="output directory (default: ./fine-tuned-model)")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--learning-rate", "--lr", type=float, help="default 5e-5 (full), 2e-4 (--lora)")
    p.add_argument("--max-length", type=int, default=512, help="tokens per example (longer ones are cut)")
    p.add_argument("--eval-split", type=float, default=0.1, help="share held out for the eval loss (0 = none)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--system", help="system prompt to train (and later ask) with")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter instead of all weights")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--merge", action="store_true", help="with --lora: merge the adapter into the weights")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUTPUT/checkpoints")
    p.add_argument("--save-steps", type=int, help="checkpoint every N steps (default: each epoch)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep OUTPUT/checkpoints after a finished run")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.add_argument("--json", action="store_true", help="print the model card as JSON")


def cmd_finetune(args: "argparse.Namespace") -> int:
    """Train as the flags say; print where the model went (or its card with ``--json``)."""
    # imported here: rag_app.tuning.finetune imports this module for the names rag_app.cli.main asks it for
    from rag_app.tuning.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        data=args.data, base=args.base, output=args.output, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_length=args.max_length, eval_split=args.eval_split, seed=args.seed,
        system=args.system, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha, merge=args.merge,
        resume=args.resume, save_steps=args.save_steps, keep_checkpoints=args.keep_checkpoints, threads=args.threads,
    )
    result = finetune(config)
    if args.json:
        print(json.dumps(result.card))
    else:
        print(f"saved {result.output} ({result.card['method']}, {result.steps} steps, {result.seconds:.0f} s); "
              f"ask it: RAG_LLM=hf:{result.output} rag-app query \"...\"")
    return 0
