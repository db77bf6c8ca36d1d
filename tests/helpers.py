"""Helpers the test modules share: the sealed environment, the in-process CLI, waiting for servers.

Fixtures built on these live in conftest.py; plain functions live here so that helper modules
(serving.py, http_stub.py) and session-scoped fixtures can use them too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

#: Variables a developer's shell may carry that change what rag-app does: settings, keys, endpoints.
SEALED_PREFIXES = ("RAG_", "OPENAI_", "CHROMA_", "AZURE_OPENAI", "OLLAMA_")


def is_sealed(name: str) -> bool:
    """Whether the tests hide ``name`` from rag-app (and from every process they start)."""
    return name.startswith(SEALED_PREFIXES)


def pythonpath() -> str:
    """This checkout first, so child processes import the code under test, not another install."""
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def sealed_environ(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: the caller's, sealed like the tests, running this tree's code.

    Safe to call before the per-test sealing has run (session- and module-scoped server fixtures):
    it filters ``os.environ`` itself.
    """
    env = {k: v for k, v in os.environ.items() if not is_sealed(k)}
    env["PYTHONPATH"] = pythonpath()
    env["HOME"] = str(home)
    env.setdefault("TIKTOKEN_CACHE_DIR", str(home.parent / "tiktoken"))
    env.update(extra)
    return env


def bare_environ(home: Path, **extra: str) -> dict[str, str]:
    """A minimal child environment (no inherited variables at all) that still runs this tree's code."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(
    probe: Callable[[], bool], process: subprocess.Popen, log: Path, what: str, timeout: float, interval: float = 0.2
) -> None:
    """Poll ``probe`` until it answers True; stop the process and fail with its log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except OSError:  # connection refused, reset, timed out (httpx errors are wrapped by the caller)
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise AssertionError(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def stop_process(process: subprocess.Popen, timeout: float = 20) -> int:
    """Terminate, then kill if it does not exit in ``timeout`` seconds; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


# --- the CLI in this process ---------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def __iter__(self):  # code, out, err = cli(...)
        return iter((self.code, self.out, self.err))

    def json(self) -> Any:
        return json.loads(self.out)

    def rows(self) -> list[Any]:
        """``--json`` output with one object per line (``--questions``)."""
        return [json.loads(line) for line in self.out.splitlines()]


class Cli:
    """``rag_app.cli.main.main(argv)`` with its output captured: ``cli("reindex", path)``.

    ``code=`` asserts the exit code (stderr in the message); ``cli.json(...)`` runs a
    command that must succeed and parses what it printed.
    """

    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str, code: int | None = None) -> CliResult:
        from rag_app.cli.main import main

        self.capsys.readouterr()  # only this command's output
        status = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        if code is not None:
            assert status == code, f"rag-app {' '.join(map(str, argv))}: exit {status}, not {code}\n{err}"
        return CliResult(status, out, err)

    def json(self, *argv: str) -> Any:
        return self(*argv, code=0).json()
