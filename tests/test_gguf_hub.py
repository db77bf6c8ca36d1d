"""``RAG_LOCAL_MODEL=REPO/FILE.gguf``: downloaded once through huggingface_hub from a loopback
server standing in for the Hub (``HF_ENDPOINT``); offline and missing files give one line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # fresh processes: huggingface_hub reads HF_* when imported

ROOT = Path(__file__).resolve().parent.parent
REPO, FILE = "northwind/tiny-GGUF", "tiny-model.Q4_0.gguf"
BODY = b"GGUF" + bytes(range(256)) * 64  # a stand-in file: the download path does not parse it


class Hub(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []

    def _answer(self, head: bool) -> None:
        Hub.requests.append((self.command, self.path))
        if self.path != f"/{REPO}/resolve/main/{FILE}":
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if self.path.startswith(f"/{REPO}/") else "RepoNotFound")
            self.send_header("X-Error-Message", "Entry not found")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", "a" * 40)
        self.send_header("ETag", f'"{hashlib.sha256(BODY).hexdigest()}"')
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if not head:
            self.wfile.write(BODY)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub():
    Hub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def resolve(spec: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``resolve_model(spec)`` in a fresh process (huggingface_hub reads HF_* at import)."""
    code = (
        "import sys\nfrom chains.backends.gguf_hub import resolve_model\nfrom chains.errors import BackendError\n"
        "try:\n    print(resolve_model(sys.argv[1]))\nexcept BackendError as exc:\n    print('error:', exc); sys.exit(2)\n"
    )
    full = {**os.environ, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    full.pop("HF_HUB_OFFLINE", None) if "HF_HUB_OFFLINE" not in env else None
    return subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True, cwd=ROOT, env=full, timeout=120)


def test_a_hub_spec_is_downloaded_once_with_a_progress_bar_then_read_from_the_cache(hub, tmp_path: Path):
    first = resolve(f"{REPO}/{FILE}", tmp_path, HF_ENDPOINT=hub, TQDM_POSITION="-1")  # a bar off a terminal too
    assert first.returncode == 0, first.stdout + first.stderr
    path = Path(first.stdout.strip().splitlines()[-1])
    assert path.read_bytes() == BODY and str(path).startswith(str(tmp_path))
    assert ("GET", f"/{REPO}/resolve/main/{FILE}") in Hub.requests
    gets = sum(1 for method, _ in Hub.requests if method == "GET")
    assert "100%" in first.stderr  # huggingface_hub's progress bar
    # the second time (online or offline): straight from the cache, no request at all
    before = len(Hub.requests)
    for env in ({}, {"HF_HUB_OFFLINE": "1"}):
        again = resolve(f"{REPO}/{FILE}", tmp_path, HF_ENDPOINT=hub, **env)
        assert again.returncode == 0 and Path(again.stdout.strip()) == path
    assert len(Hub.requests) == before and gets == 1


def test_offline_without_the_file_cached_is_one_line(hub, tmp_path: Path):
    result = resolve(f"{REPO}/{FILE}", tmp_path, HF_ENDPOINT=hub, HF_HUB_OFFLINE="1")
    assert result.returncode == 2 and not Hub.requests
    assert result.stdout.count("\n") == 1 and "HF_HUB_OFFLINE is set" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_missing_file_or_repository_and_an_unreachable_hub_are_one_line(hub, tmp_path: Path):
    missing = resolve(f"{REPO}/nope.gguf", tmp_path, HF_ENDPOINT=hub)
    assert missing.returncode == 2 and f"{REPO} has no file nope.gguf" in missing.stdout
    no_repo = resolve("someone/else/x.gguf", tmp_path, HF_ENDPOINT=hub)
    assert no_repo.returncode == 2 and "No model repository someone/else" in no_repo.stdout
    down = resolve(f"{REPO}/{FILE}", tmp_path, HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens there
    assert down.returncode == 2 and "unreachable" in down.stdout
    for result in (missing, no_repo, down):
        assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_path_stays_a_path(tmp_path: Path):
    from chains.backends.gguf_hub import is_hub_spec, resolve_model
    from chains.errors import BackendError

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model(str(model)) == model and not is_hub_spec(str(model))
    assert is_hub_spec("bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    assert not is_hub_spec("models/m.gguf") and not is_hub_spec("./a/b/c.gguf")
    with pytest.raises(BackendError, match="Local model file not found"):
        resolve_model(str(tmp_path / "absent.gguf"))
