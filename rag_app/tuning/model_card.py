"""The model card of a fine-tuned model: ``CARD_FILE`` (JSON, read by the ``hf`` backend) and a README."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_app.tuning.finetune_examples import file_hash

if TYPE_CHECKING:
    from rag_app.tuning.finetune import FinetuneConfig


def build_card(config: FinetuneConfig, base_dir: str, fmt: Any, n_train: int, n_eval: int,
               history: list[tuple[int, float]], eval_before: float | None, eval_loss: float | None,
               steps: int, seconds: float) -> dict[str, Any]:
    """What the run was: base, data, method, hyper-parameters, prompt format, losses and time."""
    from chains.hf_models import OFFLINE_BASE

    return {
        "base": config.base if config.base != OFFLINE_BASE else OFFLINE_BASE,
        "base_path": base_dir,
        "data": str(config.data),
        "data_hash": file_hash(config.data),
        "examples": {"train": n_train, "eval": n_eval},
        "method": ("lora-merged" if config.merge else "lora-adapter") if config.lora else "full",
        "hyperparameters": {
            "epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.lr,
            "max_length": config.max_length, "eval_split": config.eval_split, "seed": config.seed,
            **({"lora_r": config.lora_r, "lora_alpha": config.lora_alpha} if config.lora else {}),
        },
        "prompt_format": fmt.to_dict(),
        "steps": steps,
        "final_train_loss": history[-1][1] if history else None,
        "first_train_loss": history[0][1] if history else None,
        "eval_loss_before": eval_before,
        "eval_loss": eval_loss,
        "train_seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_card(out: Path, card: dict[str, Any]) -> None:
    """Save the card as ``CARD_FILE`` and as a ``README.md`` a person reads."""
    from chains.hf_format import CARD_FILE

    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    hp = "\n".join(f"| {k} | {v} |" for k, v in card["hyperparameters"].items())
    fmt = card["prompt_format"]

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    readme = f"""# Fine-tuned model

Fine-tuned with `rag-app finetune` from **{card['base']}** ({card['method']}).

- data: `{card['data']}` ({card['data_hash']}); {card['examples']['train']} training and {card['examples']['eval']} held-out examples
- steps: {card['steps']}; train loss {num(card['first_train_loss'])} → {num(card['final_train_loss'])}; eval loss {num(card['eval_loss_before'])} → {num(card['eval_loss'])}
- prompt format: `{fmt['kind']}`{'' if not fmt.get('system') else f" with system prompt: {fmt['system']!r}"} (the `hf` backend asks in the same format)

| hyper-parameter | value |
|---|---|
{hp}

Serve it: `RAG_LLM=hf:{out} rag-app query "..."` (add `--no-retrieval` for the model alone).
"""
    (out / "README.md").write_text(readme, encoding="utf-8")
