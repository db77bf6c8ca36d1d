"""The CLI as a user runs it: real subprocesses where start-up matters, main() elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.env(RAG_LLM="extractive")


def test_reindex_json_then_query_json_match_the_documented_schema(env, corpus, cli):
    code, out, _ = cli("reindex", str(corpus), "--json")
    report = json.loads(out)
    assert code == 0
    assert {"files", "skipped", "chunks", "added", "updated", "deleted", "unchanged"} <= set(report)
    assert report["files"] == 6 and report["added"] == report["chunks"]
    code, out, _ = cli("reindex", str(corpus), "--json")
    again = json.loads(out)
    assert again["chunks"] == report["chunks"] and again["unchanged"] == report["chunks"] and again["added"] == 0

    code, out, _ = cli("query", "What does error code E01 mean?", "--json", "--k", "3")
    answer = json.loads(out)
    assert code == 0 and isinstance(answer["answer"], str) and answer["answer"]
    assert set(answer["timings_ms"]) == {"retrieve", "generate"}
    assert len(answer["sources"]) == 3
    for source in answer["sources"]:
        assert {"source", "score", "chunk_id", "text"} <= set(source)
        assert ("page" in source) != ("start_line" in source)
        assert isinstance(source["score"], float)


def test_human_output_lists_sources_with_lines(env, corpus, cli):
    cli("reindex", str(corpus))
    code, out, _ = cli("query", "aluminium frame warranty years")
    assert code == 0
    assert "Sources:" in out and "warranty.md:" in out


def test_questions_file_answers_each_with_its_id(env, corpus, cli, tmp_path: Path):
    cli("reindex", str(corpus))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a1", "question": "frame warranty"}\n{"question": "battery storage"}\n')
    code, out, _ = cli("query", "--questions", str(questions), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == ["a1", None]
    assert all(r["sources"] for r in rows)
    plain = tmp_path / "q.txt"
    plain.write_text("frame warranty\n\n# a comment\nbattery storage\n")
    code, out, _ = cli("query", "--questions", str(plain))
    assert code == 0 and out.count("Q: ") == 2


def test_skipped_files_warn_by_name_and_exit_zero(env, corpus, cli):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    code, out, err = cli("reindex", str(corpus))
    assert code == 0 and "skipped" in err and "broken.pdf" in err and "Traceback" not in err
    assert "1 skipped" in out
    code, _, _ = cli("reindex", str(corpus), "--strict", "--verify")
    assert code == 5


@pytest.mark.parametrize(
    "argv, message, exit_code",
    [
        (["query", "anything"], "rag-app reindex", 1),
        (["reindex", "/no/such/dir"], "no such file", 1),
        (["query", "x", "--llm", "nope"], "Available: ", 1),
        (["query"], "QUESTION", 4),
    ],
)
def test_user_mistakes_are_one_line_errors(env, cli, argv, message, exit_code):
    code, out, err = cli(*argv)
    assert code == exit_code
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_setting_in_dotenv_names_it(env, cli, tmp_path: Path):
    dotenv = tmp_path / "work" / ".env"
    dotenv.write_text("RAG_K=lots\n")
    code, _, err = cli("query", "x")
    assert code == 4 and "RAG_K" in err


def test_dotenv_may_hold_other_tools_variables(env, corpus, cli, tmp_path: Path):
    dotenv = tmp_path / "work" / ".env"
    dotenv.write_text("# shared with other tools\nHF_TOKEN=hf_x\nRAG_K=1\nrag_k=9\n")
    cli("reindex", str(corpus))
    answer = cli.json("query", "How long is the frame warranty?", "--json")
    assert len(answer["sources"]) == 1  # RAG_K from .env; other names (and other cases) left alone
    bad = tmp_path / "work" / ".env"
    bad.write_text("RAG_SEARCH=fuzzy\n")
    code, _, err = cli("query", "x")
    assert code == 4 and "RAG_SEARCH must be one of hybrid, vector, mmr or bm25, got 'fuzzy'" in err


def test_openai_without_key_says_where_to_put_it(env, corpus, cli):
    cli("reindex", str(corpus))
    code, _, err = cli("query", "x", "--llm", "openai")
    assert code == 1 and "OPENAI_API_KEY" in err


def test_help_is_fast_because_nothing_heavy_is_imported(tmp_path: Path):
    code = (
        "import sys\n"
        "from rag_app.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'langchain_core', 'llama_cpp') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_python_dash_m_works_like_the_command(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "rag_app", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and "reindex" in result.stdout and "query" in result.stdout
