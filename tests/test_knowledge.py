"""Fine-tuning for knowledge: examples from a QA set, a time budget that stops the Trainer, the cost recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_app.settings import Settings
from rag_app.errors import ConfigError
from rag_app.measure.qa_sets import QAItem
from rag_app.tuning.knowledge import knowledge_examples, train_knowledge
from test_finetune import tiny_base  # noqa: F401  (a 2-layer Llama to fine-tune in seconds)

ITEMS = [
    QAItem("q1", "Who welds the Zephyr frame?", "Corvano Works", ["frame.txt"],
           ["The Zephyr frame is welded by Corvano Works in Turin."]),
    QAItem("q2", "How long do the brake pads last?", "3000 kilometres", ["brakes.txt"],
           ["The Zephyr brake pads last about 3000 kilometres."]),
    QAItem("q3", "What is not answered?", None),
]


def test_examples_ask_as_the_hf_backend_asks():
    from langchain_core.documents import Document

    from chains.hf_format import question_messages

    qa = knowledge_examples(ITEMS)
    assert qa == [
        {"messages": [{"role": "user", "content": "Who welds the Zephyr frame?"}, {"role": "assistant", "content": "Corvano Works"}]},
        {"messages": [{"role": "user", "content": "How long do the brake pads last?"},
                      {"role": "assistant", "content": "3000 kilometres"}]},
    ]
    grounded = knowledge_examples(ITEMS[:1], ("qa", "grounded"))[1]["messages"]
    # the same user turn the hybrid setup sends (hf backend with retrieval), gold passage as the context
    passage = Document(page_content=ITEMS[0].contexts[0], metadata={"source": "frame.txt"})
    assert grounded[0] == question_messages(ITEMS[0].question, [passage])[0]
    assert grounded[1] == {"role": "assistant", "content": "Corvano Works"}
    with pytest.raises(ValueError, match="unknown example kinds"):
        knowledge_examples(ITEMS, ("passages",))


def test_the_time_budget_stops_training_and_the_card_records_time_and_cost(tmp_path: Path, tiny_base: Path):  # noqa: F811
    settings = Settings(local_cost_per_hour=36.0, threads=1)  # $0.01 a second
    lines: list[str] = []
    run = train_knowledge(ITEMS, tmp_path / "model", settings, minutes=0.0001, epochs=500, base=str(tiny_base),
                          log=lines.append)
    assert run.stopped_by_budget and 1 <= run.steps < 500  # 2 examples, batch 8: one step an epoch
    assert run.device == "cpu" and run.method == "full" and run.examples == 2
    assert run.cost == pytest.approx(run.seconds * 0.01) and run.cost_per_hour == 36.0
    assert any("time budget of 0:00 spent at step" in line for line in lines)
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["knowledge"]["stopped_by_budget"] is True and card["knowledge"]["cost"] == round(run.cost, 6)
    assert "training cost $" in (tmp_path / "model" / "README.md").read_text()
    with pytest.raises(ConfigError, match="--train-minutes must be more than 0"):
        train_knowledge(ITEMS, tmp_path / "m2", settings, minutes=0, base=str(tiny_base))
    with pytest.raises(ConfigError, match="has an answer to learn"):
        train_knowledge(ITEMS[2:], tmp_path / "m3", settings, minutes=1, base=str(tiny_base))
