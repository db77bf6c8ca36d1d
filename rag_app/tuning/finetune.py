"""``rag-app finetune``: teach a model a tone and an answer format from JSONL examples.

Examples are JSONL in three shapes (:mod:`rag_app.tuning.finetune_examples`).
Every example is rendered through :class:`chains.hf_format.PromptFormat` (the
tokenizer's chat template, or ``User:/Assistant:``), the same object the
``hf`` backend uses at query time, and the format is recorded in the model card.
Training is the Hugging Face ``Trainer``; ``lora=True`` trains a LoRA adapter
(peft) that is merged into the weights or kept as an adapter. The run is a
sequence of named steps (:func:`finetune`); the model card is
:mod:`rag_app.tuning.model_card`, the command line :mod:`rag_app.cli.finetune`.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from rag_app.errors import EXIT_INTERRUPTED, ConfigError, RagError
from rag_app.tuning.finetune_examples import Example, encode, file_hash, load_examples
from rag_app.tuning.model_card import build_card, write_card
from rag_app.tuning.trainer_progress import TrainerProgress, ctrl_c_saves

CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"


class FinetuneInterrupted(RagError):
    """Ctrl-C: a checkpoint was saved and ``--resume`` continues from it."""

    exit_code = EXIT_INTERRUPTED


@dataclass
class FinetuneConfig:
    """Everything a run is configured with (recorded in the model card)."""

    data: str
    base: str = "smollm2"
    output: str = "fine-tuned-model"
    epochs: float = 3.0
    batch_size: int = 4
    learning_rate: float | None = None  # default: 5e-5 full, 2e-4 LoRA
    max_length: int = 512
    eval_split: float = 0.1
    seed: int = 42
    system: str | None = None
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    merge: bool = False
    resume: bool = False
    save_steps: int | None = None  # default: a checkpoint each epoch
    keep_checkpoints: bool = False
    threads: int | None = None

    @property
    def lr(self) -> float:
        return self.learning_rate or (2e-4 if self.lora else 5e-5)


@dataclass
class FinetuneResult:
    output: Path
    train_losses: list[tuple[int, float]]
    eval_loss_before: float | None
    eval_loss: float | None
    steps: int
    seconds: float
    card: dict[str, Any]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def finetune(config: FinetuneConfig, *, log: Callable[[str], None] = _log, callbacks: list[Any] | None = None) -> FinetuneResult:
    """Fine-tune ``config.base`` on ``config.data`` and save the model and its card to ``config.output``."""
    from chains.hf_format import PromptFormat

    examples = load_examples(config.data)
    out = Path(config.output).expanduser()
    _check_config(config, out)
    _require_libraries()
    started = time.perf_counter()
    model, tokenizer, base_dir = _load_base(config)
    fmt = PromptFormat.for_tokenizer(tokenizer, config.system)
    train_set, eval_set = _split(_encode_all(examples, tokenizer, fmt, config.max_length, log), config.eval_split, config.seed)
    if config.lora:
        model = _with_lora(model, config)
    checkpoints = _start_run(config, out)
    trainer, progress = _trainer(model, tokenizer, train_set, eval_set, config, checkpoints, log, callbacks)
    eval_before, eval_loss = _train(trainer, progress, config, checkpoints, len(train_set), len(eval_set), log)
    _save(trainer.model, tokenizer, config, out)
    history = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h and "step" in h]
    card = build_card(config, base_dir, fmt, len(train_set), len(eval_set), history, eval_before, eval_loss,
                      trainer.state.global_step, time.perf_counter() - started)
    write_card(out, card)
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return FinetuneResult(out, history, eval_before, eval_loss, trainer.state.global_step,
                          time.perf_counter() - started, card)


# --- the steps ---------------------------------------------------------------------------


def _check_config(config: FinetuneConfig, out: Path) -> None:
    """Refuse a run that cannot work before any model is loaded."""
    _check_output(config, out)
    if not 0 <= config.eval_split < 1:
        raise ConfigError(f"--eval-split must be in [0, 1), got {config.eval_split}")
    if config.merge and not config.lora:
        raise ConfigError("--merge only applies with --lora")


def _check_output(config: FinetuneConfig, out: Path) -> None:
    from chains.hf_format import CARD_FILE

    if config.resume:
        if not (out / CHECKPOINTS).is_dir() or not any((out / CHECKPOINTS).glob("checkpoint-*")):
            raise ConfigError(f"Nothing to resume: no checkpoint in {out / CHECKPOINTS} (run without --resume)")
        if _read_run(out / CHECKPOINTS).get("data_hash") != file_hash(config.data):
            raise ConfigError(f"{config.data} changed since the checkpoint in {out} was saved: run without --resume to start over")
        return
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / CARD_FILE).exists() and not (out / CHECKPOINTS).exists())):
        raise ConfigError(f"{out} exists and is not a fine-tuned model: choose another --output or remove it")


def _require_libraries() -> None:
    """torch and transformers are the ``hf`` extra: say how to install them when missing."""
    try:
        import torch  # noqa: F401
        from transformers import (  # noqa: F401
            AutoModelForCausalLM,
            AutoTokenizer,
            DataCollatorForSeq2Seq,
            PrinterCallback,
            ProgressCallback,
            Trainer,
            TrainingArguments,
        )
        from transformers.utils import logging as hf_logging  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"Fine-tuning needs torch and transformers ({exc.name}): pip install 'rag-app[hf]'") from None


def _load_base(config: FinetuneConfig) -> tuple[Any, Any, str]:
    """(model, tokenizer, base directory) of ``config.base``, in float32, with a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from chains import BackendError
    from chains.hf_models import resolve_model

    if config.threads:
        torch.set_num_threads(config.threads)
    hf_logging.disable_progress_bar()
    try:
        base_dir = resolve_model(config.base)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"Cannot load base model {config.base}: {str(exc).splitlines()[0]}") from None
    finally:
        hf_logging.enable_progress_bar()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, base_dir


def _encode_all(examples: list[Example], tokenizer: Any, fmt: Any, max_length: int,
                log: Callable[[str], None]) -> list[dict[str, list[int]]]:
    """Every example that still has something to learn within ``max_length`` tokens."""
    encoded = [e for e in (encode(x, tokenizer, fmt, max_length) for x in examples) if e is not None]
    if len(encoded) < len(examples):
        log(f"warning: {len(examples) - len(encoded)} example(s) had nothing to learn within --max-length {max_length}")
    if not encoded:
        raise ConfigError("No example has anything to learn: raise --max-length or check the data")
    return encoded


def _split(encoded: list[dict[str, list[int]]], eval_split: float,
           seed: int) -> tuple[list[dict[str, list[int]]], list[dict[str, list[int]]]]:
    """(train, held out): a seeded shuffle, at least one held out when ``eval_split`` > 0 and there are two."""
    order = list(range(len(encoded)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(encoded) * eval_split)) if eval_split > 0 and len(encoded) >= 2 else 0
    return [encoded[i] for i in order[n_eval:]], [encoded[i] for i in order[:n_eval]]


def _with_lora(model: Any, config: FinetuneConfig) -> Any:
    """``model`` wrapped with a LoRA adapter on every linear layer."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("--lora needs peft: pip install 'rag-app[hf]'") from None
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.05,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _read_run(checkpoints: Path) -> dict[str, Any]:
    return json.loads((checkpoints / RUN_FILE).read_text(encoding="utf-8"))


def _write_run(checkpoints: Path, run: dict[str, Any]) -> None:
    (checkpoints / RUN_FILE).write_text(json.dumps(run), encoding="utf-8")


def _start_run(config: FinetuneConfig, out: Path) -> Path:
    """The checkpoint directory; a new run records the data's hash there (what ``--resume`` checks)."""
    checkpoints = out / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        _write_run(checkpoints, {"data_hash": file_hash(config.data), "config": asdict(config)})
    return checkpoints


def _trainer(model: Any, tokenizer: Any, train_set: list[Any], eval_set: list[Any], config: FinetuneConfig,
             checkpoints: Path, log: Callable[[str], None], callbacks: list[Any] | None) -> tuple[Any, TrainerProgress]:
    """A ``Trainer`` that checkpoints into ``checkpoints`` and reports through :class:`TrainerProgress`."""
    import torch
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    show_bar = sys.stderr.isatty()
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.lr,
        seed=config.seed,
        logging_steps=1,
        save_strategy="steps" if config.save_steps else "epoch",
        save_steps=config.save_steps or 500,
        save_total_limit=1,
        eval_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),  # a GPU trains when there is one
        disable_tqdm=not show_bar,
        dataloader_pin_memory=False,
        remove_unused_columns=False,
    )
    progress = TrainerProgress(log, show_bar)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set or None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[progress.callback, *(callbacks or [])],
    )
    trainer.remove_callback(PrinterCallback)
    if not show_bar:
        trainer.remove_callback(ProgressCallback)
    return trainer, progress


def _train(trainer: Any, progress: TrainerProgress, config: FinetuneConfig, checkpoints: Path, n_train: int,
           n_eval: int, log: Callable[[str], None]) -> tuple[float | None, float | None]:
    """Train (or resume); the held-out loss (before, after). Ctrl-C raises :class:`FinetuneInterrupted`."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        eval_before = trainer.evaluate()["eval_loss"] if n_eval and not config.resume else None
        if eval_before is not None:
            log(f"eval loss before training: {eval_before:.4f} ({n_eval} held-out examples)")
            _write_run(checkpoints, {**_read_run(checkpoints), "eval_loss_before": eval_before})
        steps_per_epoch = math.ceil(n_train / config.batch_size)
        log(f"training on {n_train} examples, {steps_per_epoch} steps an epoch, {config.epochs:g} epochs"
            + (" (resuming)" if config.resume else ""))
        with ctrl_c_saves(progress):
            trainer.train(resume_from_checkpoint=True if config.resume else None)
        if progress.interrupted:
            raise FinetuneInterrupted(
                f"Interrupted at step {trainer.state.global_step}; checkpoint saved in {checkpoints}: "
                "run the same command with --resume to continue"
            )
        eval_loss = trainer.evaluate()["eval_loss"] if n_eval else None
        if eval_loss is not None:
            log(f"eval loss after training: {eval_loss:.4f}")
    finally:
        hf_logging.set_verbosity(verbosity)
    if eval_before is None and config.resume:
        eval_before = _read_run(checkpoints).get("eval_loss_before")
    return eval_before, eval_loss


def _save(model: Any, tokenizer: Any, config: FinetuneConfig, out: Path) -> None:
    """Write the weights (LoRA merged with ``--merge``) and the tokenizer, replacing an earlier run's."""
    if config.lora and config.merge:
        model = model.merge_and_unload()
    for stale in ("model.safetensors", "adapter_model.safetensors", "adapter_config.json"):
        (out / stale).unlink(missing_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
