"""MiniLM on ONNX Runtime: the same vectors as torch, and a query path that never imports torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA, bare_environ
from rag_app.embeddings import MiniLMEmbedder, create_embeddings
from rag_app.errors import ConfigError

TEXTS = [
    "How long is the warranty on an aluminium frame?",
    "The aluminium and steel frames are covered against manufacturing defects for 10 years.",
    "Python dictionaries keep insertion order since version 3.7. " * 30,  # longer than 256 tokens: truncated
    "ünïcode, numbers 12345 and punctuation!?",
]


@pytest.mark.slow
def test_onnx_fp32_matches_torch_and_int8_stays_close():
    torch_vectors = np.array(MiniLMEmbedder(runtime="torch").embed_documents(TEXTS))
    fp32 = MiniLMEmbedder(runtime="onnx", precision="fp32")
    onnx_vectors = np.array(fp32.embed_documents(TEXTS))
    assert (onnx_vectors * torch_vectors).sum(1).min() > 1 - 1e-5
    int8 = MiniLMEmbedder(runtime="onnx", precision="int8")
    int8_vectors = np.array(int8.embed_documents(TEXTS))
    cosines = (int8_vectors * onnx_vectors).sum(1)
    assert cosines.min() > 0.98 and cosines.max() < 1 - 1e-6  # close, but really quantized
    # One index identity (vectors are interchangeable), separate cache keys (they are not equal).
    assert fp32.identity == int8.identity == "minilm:all-MiniLM-L6-v2"
    assert len({fp32.cache_identity, int8.cache_identity, MiniLMEmbedder(runtime="torch").cache_identity}) == 3


def test_runtime_and_precision_are_checked():
    with pytest.raises(ConfigError, match="RAG_EMBED_RUNTIME"):
        create_embeddings("minilm", options={"runtime": "tensorflow"})
    with pytest.raises(ConfigError, match="RAG_EMBED_PRECISION"):
        create_embeddings("minilm", options={"precision": "int4"})
    embedder = create_embeddings("minilm", options={"runtime": "onnx", "precision": "int8"})
    assert isinstance(embedder, MiniLMEmbedder) and (embedder.runtime, embedder.precision) == ("onnx", "int8")


def test_weights_hash_is_the_sha256_and_is_remembered(tmp_path: Path):
    from rag_app.embeddings.onnx_minilm import weights_hash

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights" * 1000)
    cache = tmp_path / "cache"
    digest = weights_hash(model, cache)
    assert digest == hashlib.sha256(b"weights" * 1000).hexdigest()
    memo = json.loads((cache / "weights-hashes.json").read_text())
    assert list(memo.values()) == [digest]
    (model / "model.safetensors").write_bytes(b"other weights")  # new size and mtime: a new key
    assert weights_hash(model, cache) == hashlib.sha256(b"other weights").hexdigest()


QUERY_IN_A_FRESH_PROCESS = """
import json, sys
from rag_app.cli.main import main
code = main(["query", "How long is the warranty on an aluminium frame?", "--llm", "extractive", "--json"])
heavy = sorted(m for m in ("torch", "transformers", "chromadb", "sentence_transformers") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.slow
def test_a_cold_query_imports_neither_torch_nor_transformers_nor_chromadb(tmp_path: Path):
    env_file = f"RAG_PERSIST_DIR={tmp_path / 'index'}\nRAG_EMBEDDINGS=minilm\n"
    (tmp_path / ".env").write_text(env_file)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=bare_environ(tmp_path),
    )
    indexed = run("-m", "rag_app", "reindex", str(DATA))
    assert indexed.returncode == 0, indexed.stderr
    queried = run("-c", QUERY_IN_A_FRESH_PROCESS)
    report = json.loads(queried.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}
    assert "10 years" in queried.stdout


def test_length_batches_sort_by_length_and_keep_within_the_token_budget():
    from rag_app.embeddings.onnx_minilm import length_batches

    lengths = [200, 5, 256, 7, 6, 190, 256, 8]
    batches = length_batches(lengths, max_batch=3, max_tokens=512)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)
    assert all(len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= 512 for b in batches)
    assert batches[:2] == [[1, 4, 3], [7, 5]] and length_batches([], 4, 100) == []
    assert length_batches([300], 4, 100) == [[0]]  # one text longer than the budget still runs


@pytest.mark.slow
def test_batching_by_tokens_gives_each_text_the_vector_it_gets_alone():
    embedder = MiniLMEmbedder(runtime="onnx", precision="fp32")
    embedder.batch_size = 2
    together = np.array(embedder.embed_documents(TEXTS + TEXTS[:2]))
    alone = np.array([embedder.embed_query(t) for t in TEXTS + TEXTS[:2]])
    assert (together * alone).sum(1).min() > 1 - 1e-6
    assert embedder.embedded_texts == len(TEXTS) + 2
