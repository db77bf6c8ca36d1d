"""Load on `rag-app serve`: concurrent clients for a fixed time, per backend, with a reindex in the middle.

One server process (MiniLM embeddings, the shared corpus copied to a temporary
directory and indexed first) serves every backend asked for. For each backend,
``--clients`` threads each keep one HTTP/1.1 connection to the server and send
``POST /v1/chat/completions`` (non-streaming, real questions of the set, in
turn) back to back for ``--duration`` seconds; requests still in flight then
are waited for. ``--reindex-at`` seconds in, a few corpus files are edited and
``POST /reindex`` is sent; its job is polled until done. Everything stays on
loopback and every loop is bounded by time.

    python bench/serve_load.py                                   # extractive, then local: 20 clients x 30 s each
    python bench/serve_load.py --backends extractive --clients 50 --duration 60
    python bench/serve_load.py --backends extractive --reindex-at -1 --code ../base   # another checkout's server
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import EVALDATA, ROOT, corpus_dir, machine, pcts, questions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads) so far; ``None`` off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def run_load(port: int, model: str, qs: list[str], clients: int, duration: float, reindex_at: float,
             corpus: Path, timeout: float, unique: bool = False) -> dict:
    results: list[tuple[float, float, bool]] = []  # (start offset s, latency ms, ok)
    lock = threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + duration

    def client(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        i = number
        while time.monotonic() < deadline:
            question = qs[i % len(qs)]
            if unique:  # never the same text twice: no cache of the question's vector or answer helps
                question = f"{question} ({i})"
            i += clients
            started = time.monotonic()
            try:
                status, body = call(conn, "POST", "/v1/chat/completions",
                                    {"model": model, "messages": [{"role": "user", "content": question}]})
                ok = status == 200 and bool(body.get("choices")) and "sources" in body
            except (OSError, http.client.HTTPException, ValueError):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                time.sleep(0.05)
            with lock:
                results.append((started - t0, (time.monotonic() - started) * 1000, ok))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    reindex: dict = {}
    if reindex_at >= 0:
        time.sleep(reindex_at)
    if reindex_at >= 0 and time.monotonic() < deadline:
        for path in sorted(p for p in corpus.iterdir() if p.is_file())[:5]:
            with path.open("a", encoding="utf-8") as f:
                f.write(f"\n\nEdited for the load test at {time.time():.0f}: the reindex must embed this paragraph.\n")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.monotonic()
        status, job = call(conn, "POST", "/reindex")
        reindex = {"status": status, "started_s": started - t0}
        while status == 202 and time.monotonic() < started + 600:
            _, job = call(conn, "GET", f"/reindex/{job['job']}")
            if job["status"] in {"done", "failed"}:
                break
            time.sleep(0.2)
        reindex.update(ended_s=time.monotonic() - t0, job=job)
        conn.close()
    for thread in threads:
        thread.join()
    elapsed = max(duration, max((s + lat / 1000 for s, lat, _ in results), default=duration))
    return {"results": results, "reindex": reindex, "elapsed_s": elapsed}


def summary(model: str, run: dict, duration: float) -> str:
    results = run["results"]
    ok = [lat for _, lat, good in results if good]
    errors = sum(1 for *_, good in results if not good)
    lines = [f"{model}: {len(results)} requests, {errors} errors, {len(ok) / run['elapsed_s']:.1f} req/s "
             f"(over {run['elapsed_s']:.1f} s, incl. draining)" + (f", {pcts(ok)}, max {max(ok):.0f} ms" if ok else "")]
    reindex = run["reindex"]
    if reindex:
        job = reindex.get("job", {})
        report = job.get("report") or {}
        during = [lat for s, lat, good in results if good and reindex["started_s"] <= s <= reindex["ended_s"]]
        lines.append(
            f"  reindex at {reindex['started_s']:.1f}s: HTTP {reindex['status']}, job {job.get('status')}, "
            f"{reindex['ended_s'] - reindex['started_s']:.1f} s, added={report.get('added')} updated={report.get('updated')} "
            f"chunks={report.get('chunks')}" + (f" error={job.get('error')}" if job.get("error") else "")
        )
        if during:
            lines.append(f"  requests started during the reindex: {len(during)}, {pcts(during)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="extractive,local", help="backends to load, one after the other")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per backend")
    parser.add_argument("--reindex-at", type=float, default=10.0, help="seconds into each run to start a reindex (<0: none)")
    parser.add_argument("--corpus", default="squad_expmrc", help="shared corpus to serve")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=600.0, help="per-request timeout, seconds")
    parser.add_argument("--unique", action="store_true",
                        help="make every question's text unique (a number appended), as in real traffic; "
                             "by default the questions are asked in turn, so each comes back many times")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="checkout whose code the server runs (default: this one), to compare commits in one go")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]

    qs = questions(args.corpus, args.questions)
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        base = Path(tmp)
        corpus = base / "corpus"
        shutil.copytree(corpus_dir(args.corpus), corpus)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "CHROMA_"))}
        env.update(PYTHONPATH=str(args.code.resolve()), RAG_PERSIST_DIR=str(base / "idx"), RAG_DATA=str(corpus), RAG_EVALDATA=str(EVALDATA))
        rag = [sys.executable, "-m", "rag_app"]
        subprocess.run([*rag, "reindex"], cwd=base, env=env, check=True, capture_output=True)
        port = free_port()
        log = (base / "serve.log").open("wb")
        server = subprocess.Popen([*rag, "serve", "--port", str(port), "--models", ",".join(backends), "--quiet"],
                                  cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.monotonic()
            while True:
                try:
                    if call(http.client.HTTPConnection("127.0.0.1", port, timeout=2), "GET", "/health")[0] == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() - started > 300:
                    raise SystemExit("server did not start:\n" + (base / "serve.log").read_text()[-2000:])
                time.sleep(0.2)
            print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.1f}; server pid {server.pid}, "
                  f"code {args.code.resolve()}", flush=True)
            print(f"corpus {args.corpus}, {args.clients} clients x {args.duration:g} s per backend, "
                  f"POST /v1/chat/completions{', unique questions' if args.unique else ''}, "
                  f"server ready in {time.monotonic() - started:.1f} s")
            for model in backends:
                if server.poll() is not None:
                    print(f"{model}: not run, the server exited with {server.returncode}")
                    continue
                cpu_before = cpu_seconds(server.pid)
                run = run_load(port, model, qs, args.clients, args.duration, args.reindex_at, corpus, args.timeout,
                               args.unique)
                print(summary(model, run, args.duration))
                cpu_after = cpu_seconds(server.pid)
                if cpu_before is not None and cpu_after is not None and run["results"]:
                    # Throughput on a shared machine depends on the share of the cores it gets;
                    # CPU time per request does not: it is what the server spends on one answer.
                    print(f"  server CPU: {(cpu_after - cpu_before) * 1000 / len(run['results']):.1f} ms per request "
                          f"({cpu_after - cpu_before:.1f} s over the run)")
                if server.poll() is not None:
                    print(f"  the server exited with {server.returncode} during this run; its log ends:\n"
                          + (base / "serve.log").read_text(errors="replace")[-800:])
            print(f"load average after: {os.getloadavg()[0]:.1f}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


if __name__ == "__main__":
    main()
