"""Fine-tuning on a tiny Llama built from a config, with a tokenizer trained on the fly (seconds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT
from rag_app.errors import ConfigError
from rag_app.tuning.finetune import FinetuneConfig, finetune
from rag_app.tuning.finetune_examples import Example, encode, load_examples

SIGN = "Cheers - Team"
QUESTIONS = [f"what is item {word}?" for word in
             "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()]


def style_rows() -> list[dict]:
    return [{"prompt": q, "completion": f"Answer: {q.split()[-1][:-1]} is fine.\n{SIGN}"} for q in QUESTIONS]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained on the test vocabulary."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [json.dumps(r) for r in style_rows()] + ["User: Assistant: Answer: is fine."]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    base = tmp_path_factory.mktemp("tiny") / "base"
    LlamaForCausalLM(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    return base


def tiny_config(tmp_path: Path, base: Path, **overrides) -> FinetuneConfig:
    values = dict(data=str(write_jsonl(tmp_path / "style.jsonl", style_rows())), base=str(base),
                  output=str(tmp_path / "out"), epochs=8, batch_size=4, learning_rate=3e-3,
                  eval_split=0.25, max_length=64, threads=1)
    values.update(overrides)
    return FinetuneConfig(**values)


# --- data ----------------------------------------------------------------------------------


def test_the_three_example_shapes_are_read(tmp_path: Path):
    path = write_jsonl(tmp_path / "x.jsonl", [
        {"text": "free text"},
        {"prompt": "How do I reset my password?", "completion": "To reset your password, ..."},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello."}]},
    ])
    text, pc, chat = load_examples(path)
    assert text.text == "free text" and not text.messages
    assert pc.messages == [{"role": "user", "content": "How do I reset my password?"},
                           {"role": "assistant", "content": "To reset your password, ..."}]
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant"]


@pytest.mark.parametrize("line, fragment", [
    ('{"prompt": "q"}', '"prompt" and "completion"'),
    ('{"messages": [{"role": "user", "content": "q"}]}', "no assistant message"),
    ('{"foo": 1}', '{"text"}'),
    ("not json", "not valid JSON"),
])
def test_a_bad_line_is_named(tmp_path: Path, line: str, fragment: str):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_examples(path)
    assert f"{path}:2" in str(err.value) and fragment in str(err.value)


def test_loss_is_masked_to_the_completion(tiny_base: Path):
    from transformers import AutoTokenizer

    from chains.hf_format import PromptFormat

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    assert fmt.kind == "plain"
    example = Example(messages=[{"role": "user", "content": "what is item alpha?"},
                                {"role": "assistant", "content": "Answer: alpha is fine."}])
    row = encode(example, tokenizer, fmt, 128)
    learned = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])
    prompt = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label == -100])
    assert learned == " Answer: alpha is fine.</s>\n"
    assert prompt == "User: what is item alpha?\nAssistant:"
    # the query-time prompt is exactly the masked part: training and asking match
    assert fmt.prompt(tokenizer, example.messages[:1]) == prompt


def test_chat_template_masking_learns_every_assistant_turn(tiny_base: Path):
    from transformers import AutoTokenizer

    from chains.hf_format import PromptFormat

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<s>' + m['role'] + '\n' + m['content'] + '</s>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<s>assistant\n' }}{% endif %}"
    )
    fmt = PromptFormat.for_tokenizer(tokenizer, system="Be brief.")
    messages = [{"role": "user", "content": "a?"}, {"role": "assistant", "content": "A."},
                {"role": "user", "content": "b?"}, {"role": "assistant", "content": "B."}]
    pieces = fmt.segments(tokenizer, messages)
    assert [text for text, learn in pieces if learn] == ["A.</s>\n", "B.</s>\n"]
    assert pieces[0] == ("<s>system\nBe brief.</s>\n<s>user\na?</s>\n<s>assistant\n", False)
    assert "".join(text for text, _ in pieces) == tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, *messages], tokenize=False)


# --- training --------------------------------------------------------------------------------


def test_finetune_lowers_the_loss_and_the_hf_backend_serves_the_result(tmp_path: Path, tiny_base: Path):
    from chains import BackendOptions, create_llm

    result = finetune(tiny_config(tmp_path, tiny_base), log=lambda line: None)
    out = tmp_path / "out"
    assert result.output == out
    assert result.eval_loss < result.eval_loss_before
    losses = [loss for _, loss in result.train_losses]
    assert len(losses) == result.steps == 8 * 3  # 12 training examples, batch 4, 8 epochs
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    card = json.loads((out / "model_card.json").read_text())
    assert card["base"] == str(tiny_base) and card["method"] == "full"
    assert card["data_hash"].startswith("sha256:") and card["examples"] == {"train": 12, "eval": 4}
    assert card["hyperparameters"]["learning_rate"] == 3e-3 and card["prompt_format"] == {"kind": "plain", "system": None}
    assert card["eval_loss"] == pytest.approx(result.eval_loss)
    assert "eval loss" in (out / "README.md").read_text()
    assert not (out / "checkpoints").exists()

    backend = create_llm(f"hf:{out}", BackendOptions(max_tokens=12))
    answer = backend.answer("what is item golf?", [])
    assert isinstance(answer, str) and answer
    assert "".join(backend.stream("what is item golf?", [])).strip() == answer


def test_lora_adapter_and_merged(tmp_path: Path, tiny_base: Path):
    from chains import BackendOptions, create_llm

    adapter = finetune(tiny_config(tmp_path, tiny_base, lora=True, output=str(tmp_path / "adapter"), epochs=2),
                       log=lambda line: None)
    assert (adapter.output / "adapter_config.json").is_file() and not (adapter.output / "model.safetensors").exists()
    merged = finetune(tiny_config(tmp_path, tiny_base, lora=True, merge=True, output=str(tmp_path / "merged"), epochs=2),
                      log=lambda line: None)
    assert (merged.output / "model.safetensors").is_file() and not (merged.output / "adapter_config.json").exists()
    options = BackendOptions(max_tokens=8)
    # merging changes nothing but the storage: both give the same greedy answer
    assert create_llm(f"hf:{adapter.output}", options).answer("what is item kilo?", []) == \
        create_llm(f"hf:{merged.output}", options).answer("what is item kilo?", [])


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path: Path, tiny_base: Path):
    data = write_jsonl(tmp_path / "style.jsonl", style_rows())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rag_app", "finetune", str(data), "--base", str(tiny_base), "--output", str(out),
           "--epochs", "20", "--batch-size", "4", "--lr", "1e-3", "--eval-split", "0", "--save-steps", "1000",
           "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("step 3/"):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    saved = sorted((out / "checkpoints").glob("checkpoint-*"))
    assert len(saved) == 1
    step = int(saved[0].name.split("-")[1])
    assert 3 <= step < 80  # 16 examples, batch 4, 20 epochs

    resumed = subprocess.run(cmd + ["--resume", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == 80
    steps = [line.split()[1] for line in resumed.stderr.splitlines() if line.startswith("step ")]
    assert steps[0] == f"{step + 1}/80" and steps[-1] == "80/80"  # it went on from the checkpoint
    assert not (out / "checkpoints").exists()


def test_resume_without_a_checkpoint_is_a_one_line_error(tmp_path: Path):
    data = write_jsonl(tmp_path / "style.jsonl", style_rows())
    result = subprocess.run([sys.executable, "-m", "rag_app", "finetune", str(data), "--output", str(tmp_path / "o"),
                             "--resume"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 4
    assert result.stderr.strip().startswith("error: Nothing to resume") and "Traceback" not in result.stderr


def test_an_unrelated_output_directory_is_not_overwritten(tmp_path: Path, tiny_base: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a fine-tuned model"):
        finetune(tiny_config(tmp_path, tiny_base), log=lambda line: None)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_the_style_dataset_is_well_formed_and_outside_the_default_index():
    examples = load_examples(ROOT / "finetune" / "northwind_style.jsonl")
    assert len(examples) >= 40
    assert all(e.messages[-1]["content"].endswith("Happy riding! - The Northwind Bikes team") for e in examples)
    assert not list((ROOT / "data").rglob("*.jsonl"))


def test_no_retrieval_asks_the_model_alone_without_an_index(cli):
    out = cli.json("query", "How long is the warranty?", "--llm", "fake", "--no-retrieval", "--json")
    assert out["sources"] == [] and "from 0 passages" in out["answer"]


def test_no_retrieval_skips_only_the_context(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    assert len(app.query("frame warranty", k=2).sources) == 2
    alone = app.query("frame warranty", retrieval=False)
    assert alone.sources == [] and alone.answer.startswith("Fake answer to 'frame warranty' from 0 passages")
    streaming = app.stream("frame warranty", retrieval=False)
    assert "".join(streaming) and streaming.result is not None and streaming.result.sources == []


@pytest.mark.slow
def test_fine_tuning_the_real_smollm2(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                      monkeypatch: pytest.MonkeyPatch):
    """SmolLM2-135M from the shipped GGUF: a few steps lower the loss, and the result answers through hf."""
    from chains import BackendOptions, create_llm

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rag-app-cache"))
    rows = [json.loads(line) for line in (ROOT / "finetune" / "northwind_style.jsonl").read_text().splitlines()[:4]]
    data = write_jsonl(tmp_path / "style.jsonl", rows)
    result = finetune(FinetuneConfig(data=str(data), output=str(tmp_path / "ft"), epochs=2, batch_size=2,
                                     learning_rate=1e-4, eval_split=0, max_length=160), log=lambda line: None)
    losses = [loss for _, loss in result.train_losses]
    assert len(losses) == 4 and losses[-1] < losses[0]
    card = json.loads((result.output / "model_card.json").read_text())
    assert card["base"] == "smollm2" and card["prompt_format"]["kind"] == "chat_template"
    backend = create_llm(f"hf:{result.output}", BackendOptions(max_tokens=24, threads=2))
    assert backend.chat_model.render(backend.prompt("Hi", [])).endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert backend.answer("How long is the warranty on a carbon frame?", []).strip()


def test_hf_backend_errors_say_how_to_fix_them(monkeypatch: pytest.MonkeyPatch):
    from chains import BackendError, MissingDependency, available_llms, create_llm

    assert "hf" in available_llms()
    with pytest.raises(BackendError, match=r"Model directory not found: \./nope \(run `rag-app finetune`"):
        create_llm("hf:./nope")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependency, match=r"pip install 'rag-app\[hf\]'"):
        create_llm("hf:./nope")
