"""Latency per LLM backend and retrieval hit rate per search mode.

    python bench/backends.py [--queries 20] [--eval-limit 501] [--no-server]

1. Indexes data/ (MiniLM) and prints the median wall time of ``RagApp.query``
   over 20 warm queries for each backend it can run: ``extractive``, ``local``
   (SmolLM2-135M in-process) and ``openai`` against llama-cpp-python's
   OpenAI-compatible server on loopback (same model, started here).
2. Indexes ../shared/evaldata/squad_expmrc/corpus and prints the passage-level
   hit rate at k=4 (a retrieved chunk overlaps the question's gold paragraph)
   for plain vector search, MMR and hybrid (BM25 + vector, RRF).

Figures depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import SAMPLE_QUESTIONS  # noqa: E402
from rag_app import RagApp, Settings  # noqa: E402



def start_server() -> tuple[subprocess.Popen, str]:
    from chains.backends.local import default_model_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start")


def latency(app: RagApp, llm: str, queries: int) -> float:
    app.query(SAMPLE_QUESTIONS[0], llm=llm)  # warm: model loaded, caches filled
    times = []
    for i in range(queries):
        started = time.perf_counter()
        app.query(SAMPLE_QUESTIONS[i % len(SAMPLE_QUESTIONS)], llm=llm)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def overlaps(chunk: str, context: str) -> bool:
    """The chunk shares a passage with the gold paragraph (a sentence of it, or is inside it)."""
    chunk, context = _norm(chunk), _norm(context)
    if len(chunk) >= 40 and chunk[:200] in context:
        return True
    return any(len(s) >= 30 and s in chunk for s in re.split(r"(?<=[.!?])\s+", context))


def hit_rates(persist: Path, limit: int) -> dict[str, float]:
    evaldata = ROOT.parent / "shared" / "evaldata" / "squad_expmrc"
    rows = [json.loads(line) for line in (evaldata / "qa.jsonl").read_text().splitlines() if line.strip()][:limit]
    app = RagApp(Settings(), persist_dir=str(persist), collection="squad")
    t0 = time.perf_counter()
    report = app.reindex([evaldata / "corpus"])
    print(f"squad_expmrc: {report.chunks} chunks indexed in {time.perf_counter() - t0:.1f} s; {len(rows)} questions")
    rates = {}
    for mode, options in {"vector": {}, "mmr": {"mmr": True}, "hybrid": {"hybrid": True}}.items():
        hits = 0
        t0 = time.perf_counter()
        for row in rows:
            chunks = app.retrieve(row["question"], k=4, **options)
            hits += any(overlaps(c.page_content, ctx) for c in chunks for ctx in row["contexts"])
        rates[mode] = hits / len(rows)
        print(f"  hit@4 {mode:<7} {rates[mode]:.3f}   ({(time.perf_counter() - t0) / len(rows) * 1000:.1f} ms/question)")
    app.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--eval-limit", type=int, default=501)
    parser.add_argument("--no-server", action="store_true", help="skip the openai-compatible server")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_latency:
            server = None
            try:
                settings = Settings(persist_dir=str(Path(tmp) / "data-idx"), max_tokens=64)
                if not args.no_server:
                    server, base = start_server()
                    settings = settings.with_overrides(openai_base_url=base, openai_model="smollm2-135m")
                app = RagApp(settings)
                app.reindex([ROOT / "data"])
                print(f"query latency over data/, median of {args.queries} warm queries (k=4):")
                for llm in ["extractive", "local"] + ([] if args.no_server else ["openai"]):
                    print(f"  {llm:<11} {latency(app, llm, args.queries):8.1f} ms", flush=True)
                app.close()
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(timeout=20)
        hit_rates(Path(tmp) / "squad-idx", args.eval_limit)


if __name__ == "__main__":
    main()
