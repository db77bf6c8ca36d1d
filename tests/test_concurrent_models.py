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
    real = transformers.AutoModelForCausalLM.from_pretrained
    def counted(*a, **k):
        loads.append(threading.get_ident())
        return real(*a, **k)
    transformers.AutoModelForCausalLM.from_pretrained = counted
    from chains.backends.hf import HFChat
    model = HFChat(model_dir=resolve_model("smollm2"), max_tokens=8)

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


def _run(script: str, *args: str, home: Path, timeout: float = 900, **env: str) -> dict:
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
