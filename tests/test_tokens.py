from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import bare_environ


def test_tiktoken_encodings_load_with_the_network_cut(tmp_path: Path):
    """A fresh cache dir and no sockets: the shipped encodings must be enough."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from loaders.tokens import get_encoding, count_tokens\n"
        "assert count_tokens('hello world') == 2\n"
        "assert get_encoding('o200k_base').encode('hello world')\n"
        "print('ok')\n"
    )
    env = bare_environ(tmp_path, TIKTOKEN_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
