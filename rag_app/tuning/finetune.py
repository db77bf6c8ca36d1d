"""``rag-app finetune``: teach a model a tone and an answer format from JSONL examples.

Examples come in three shapes, one JSON object a line::

    {"text": "..."}                                    # learn all of it
    {"prompt": "...", "completion": "..."}             # learn the completion
    {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}   # learn assistant turns

Every example is rendered through :class:`chains.hf_format.PromptFormat` (the
tokenizer's chat template, or ``User:/Assistant:``), the same object the
``hf`` backend uses at query time, and the format is recorded in the model card.
Training is the Hugging Face ``Trainer``; ``lora=True`` trains a LoRA adapter
(peft) that is merged into the weights or kept as an adapter.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rag_app.errors import EXIT_INTERRUPTED, ConfigError, RagError

if TYPE_CHECKING:
    import argparse

CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"


class FinetuneInterrupted(RagError):
    """Ctrl-C: a checkpoint was saved and ``--resume`` continues from it."""

    exit_code = EXIT_INTERRUPTED


@dataclass
class Example:
    """One training example: a conversation, or free text (``messages`` empty)."""

    messages: list[dict[str, str]] = field(default_factory=list)
    text: str | None = None


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


# --- data ------------------------------------------------------------------------------


def load_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file of examples; a bad line is a one-line error naming it."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"Cannot read training data {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Training data {path} is not UTF-8 text") from None
    examples: list[Example] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg})") from None
        examples.append(_example(record, where))
    if not examples:
        raise ConfigError(f"{path} holds no examples: write one JSON object a line")
    return examples


def _example(record: Any, where: str) -> Example:
    shapes = 'expected {"text"}, {"prompt", "completion"} or {"messages": [...]}'
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: {shapes}")
    if "messages" in record:
        messages = record["messages"]
        ok = isinstance(messages, list) and all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
            for m in messages
        )
        if not ok:
            raise ConfigError(f'{where}: "messages" must be a list of {{"role": system|user|assistant, "content": str}}')
        if not any(m["role"] == "assistant" for m in messages):
            raise ConfigError(f"{where}: the conversation has no assistant message to learn from")
        return Example(messages=[{"role": m["role"], "content": m["content"]} for m in messages])
    if "prompt" in record or "completion" in record:
        prompt, completion = record.get("prompt"), record.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str) or not completion.strip():
            raise ConfigError(f'{where}: "prompt" and "completion" must both be non-empty strings')
        return Example(messages=[{"role": "user", "content": prompt}, {"role": "assistant", "content": completion.strip()}])
    if isinstance(record.get("text"), str) and record["text"].strip():
        return Example(text=record["text"])
    raise ConfigError(f"{where}: {shapes}")


def file_hash(path: str | Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def encode(example: Example, tokenizer: Any, fmt: Any, max_length: int) -> dict[str, list[int]] | None:
    """``input_ids`` and ``labels`` (``-100`` outside the parts to learn); ``None`` if nothing is left to learn."""
    pieces = fmt.text_segments(tokenizer, example.text) if example.text is not None else fmt.segments(tokenizer, example.messages)
    ids: list[int] = []
    labels: list[int] = []
    for text, learn in pieces:
        part = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(part)
        labels.extend(part if learn else [-100] * len(part))
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == -100 for label in labels):
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


# --- training ---------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_output(config: FinetuneConfig, out: Path) -> None:
    from chains.hf_format import CARD_FILE

    if config.resume:
        if not (out / CHECKPOINTS).is_dir() or not any((out / CHECKPOINTS).glob("checkpoint-*")):
            raise ConfigError(f"Nothing to resume: no checkpoint in {out / CHECKPOINTS} (run without --resume)")
        run = json.loads((out / CHECKPOINTS / RUN_FILE).read_text(encoding="utf-8"))
        if run.get("data_hash") != file_hash(config.data):
            raise ConfigError(f"{config.data} changed since the checkpoint in {out} was saved: run without --resume to start over")
        return
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / CARD_FILE).exists() and not (out / CHECKPOINTS).exists())):
        raise ConfigError(f"{out} exists and is not a fine-tuned model: choose another --output or remove it")


def finetune(config: FinetuneConfig, *, log: Callable[[str], None] = _log, callbacks: list[Any] | None = None) -> FinetuneResult:
    """Fine-tune ``config.base`` on ``config.data`` and save the model and its card to ``config.output``."""
    examples = load_examples(config.data)
    out = Path(config.output).expanduser()
    _check_output(config, out)
    if not 0 <= config.eval_split < 1:
        raise ConfigError(f"--eval-split must be in [0, 1), got {config.eval_split}")
    if config.merge and not config.lora:
        raise ConfigError("--merge only applies with --lora")
    try:
        import torch
        from transformers import (
            AutoModelForCausalLM,
            AutoTokenizer,
            DataCollatorForSeq2Seq,
            PrinterCallback,
            ProgressCallback,
            Trainer,
            TrainingArguments,
        )
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ConfigError(f"Fine-tuning needs torch and transformers ({exc.name}): pip install 'rag-app[hf]'") from None

    from chains import BackendError
    from chains.hf_format import PromptFormat
    from chains.hf_models import resolve_model

    started = time.perf_counter()
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
    fmt = PromptFormat.for_tokenizer(tokenizer, config.system)

    encoded = [e for e in (encode(x, tokenizer, fmt, config.max_length) for x in examples) if e is not None]
    if len(encoded) < len(examples):
        log(f"warning: {len(examples) - len(encoded)} example(s) had nothing to learn within --max-length {config.max_length}")
    if not encoded:
        raise ConfigError("No example has anything to learn: raise --max-length or check the data")
    order = list(range(len(encoded)))
    random.Random(config.seed).shuffle(order)
    n_eval = max(1, round(len(encoded) * config.eval_split)) if config.eval_split > 0 and len(encoded) >= 2 else 0
    eval_set = [encoded[i] for i in order[:n_eval]]
    train_set = [encoded[i] for i in order[n_eval:]]

    if config.lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise ConfigError("--lora needs peft: pip install 'rag-app[hf]'") from None
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.05,
                          target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)

    checkpoints = out / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        (checkpoints / RUN_FILE).write_text(json.dumps({"data_hash": file_hash(config.data), "config": asdict(config)}), encoding="utf-8")
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
    progress = _Progress(log, show_bar)
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
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        eval_before = trainer.evaluate()["eval_loss"] if eval_set and not config.resume else None
        if eval_before is not None:
            log(f"eval loss before training: {eval_before:.4f} ({len(eval_set)} held-out examples)")
            run = json.loads((checkpoints / RUN_FILE).read_text(encoding="utf-8"))
            (checkpoints / RUN_FILE).write_text(json.dumps({**run, "eval_loss_before": eval_before}), encoding="utf-8")
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        log(f"training on {len(train_set)} examples, {steps_per_epoch} steps an epoch, {config.epochs:g} epochs"
            + (" (resuming)" if config.resume else ""))
        with _ctrl_c_saves(progress):
            trainer.train(resume_from_checkpoint=True if config.resume else None)
        if progress.interrupted:
            raise FinetuneInterrupted(
                f"Interrupted at step {trainer.state.global_step}; checkpoint saved in {checkpoints}: "
                "run the same command with --resume to continue"
            )
        eval_loss = trainer.evaluate()["eval_loss"] if eval_set else None
        if eval_loss is not None:
            log(f"eval loss after training: {eval_loss:.4f}")
    finally:
        hf_logging.set_verbosity(verbosity)

    if eval_before is None and config.resume:
        eval_before = json.loads((checkpoints / RUN_FILE).read_text(encoding="utf-8")).get("eval_loss_before")
    final = trainer.model
    if config.lora and config.merge:
        final = final.merge_and_unload()
    for stale in ("model.safetensors", "adapter_model.safetensors", "adapter_config.json"):
        (out / stale).unlink(missing_ok=True)
    final.save_pretrained(out)
    tokenizer.save_pretrained(out)
    history = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h and "step" in h]
    card = _card(config, base_dir, fmt, len(train_set), len(eval_set), history, eval_before, eval_loss,
                 trainer.state.global_step, time.perf_counter() - started)
    _write_card(out, card)
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return FinetuneResult(out, history, eval_before, eval_loss, trainer.state.global_step,
                          time.perf_counter() - started, card)


class _Progress:
    """Trainer callback: a loss line per step (above the bar on a terminal); Ctrl-C asks for a checkpoint."""

    def __init__(self, log: Callable[[str], None], show_bar: bool) -> None:
        from transformers import TrainerCallback

        self.log = log
        self.show_bar = show_bar
        self.interrupted = False
        # a TrainerCallback instance whose hooks forward here (keeps transformers imports lazy)
        outer = self

        class _CB(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
                if logs and "loss" in logs:
                    line = f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}"
                    if outer.show_bar:
                        from tqdm import tqdm

                        tqdm.write(line, file=sys.stderr)
                    else:
                        outer.log(line)

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if outer.interrupted:
                    control.should_save = True
                    control.should_training_stop = True

        self.callback = _CB()


class _ctrl_c_saves:
    """While training, the first Ctrl-C stops after the current step with a checkpoint; a second one aborts."""

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress
        self.previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.progress.interrupted:
            raise KeyboardInterrupt
        self.progress.interrupted = True
        self.progress.log("interrupt: saving a checkpoint after this step (Ctrl-C again to abort)")

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# --- the model card ---------------------------------------------------------------------


def _card(config: FinetuneConfig, base_dir: str, fmt: Any, n_train: int, n_eval: int,
          history: list[tuple[int, float]], eval_before: float | None, eval_loss: float | None,
          steps: int, seconds: float) -> dict[str, Any]:
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


def _write_card(out: Path, card: dict[str, Any]) -> None:
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


# --- the command ------------------------------------------------------------------------


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
