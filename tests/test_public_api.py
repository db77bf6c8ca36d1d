"""The public API, pinned: a name that leaves (or arrives) must change this file on purpose."""

from __future__ import annotations

import importlib
import re
import sys
from importlib.metadata import EntryPoint

import pytest

from helpers import ROOT

RAG_APP_ALL = [
    "Answer",
    "ConfigError",
    "IndexMismatch",
    "IndexMissing",
    "LLMError",
    "LockBusy",
    "RagApp",
    "RagError",
    "Settings",
    "Source",
    "SourceMissing",
    "StreamingAnswer",
    "__version__",
]

CHAINS_ALL = [
    "LLM",
    "AnswerBackend",
    "BackendError",
    "BackendOptions",
    "MissingDependency",
    "UnknownBackend",
    "as_llm",
    "available_llms",
    "create_llm",
    "langchain_providers",
    "parse_spec",
    "register_llm",
]


@pytest.mark.parametrize("module, expected", [("rag_app", RAG_APP_ALL), ("chains", CHAINS_ALL)])
def test_all_is_exactly_the_documented_list_and_every_name_imports(module, expected):
    package = importlib.import_module(module)
    assert package.__all__ == expected
    namespace: dict = {}
    exec(f"from {module} import *", namespace)  # what `import *` gives a user
    assert set(expected) <= set(namespace)
    for name in expected:
        assert getattr(package, name) is namespace[name]


def test_the_readme_plugin_imports_work():
    from chains import BackendOptions, register_llm
    from rag_app.embeddings import register_embeddings

    assert callable(register_llm) and callable(register_embeddings)
    assert BackendOptions().model is None  # a dataclass every field of which has a default


def test_the_readme_names_the_plugin_imports_and_groups_this_test_pins():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Adding a backend from your own package", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert "from chains import BackendOptions, register_llm" in section
    assert "`rag_app.embeddings.register_embeddings`" in section
    assert re.findall(r"`(rag_app\.\w+)` entry-point group", section) == ["rag_app.llms"]
    assert '[project.entry-points."rag_app.llms"]' in section
    assert "embeddings: `rag_app.embeddings`" in section


def test_entry_point_group_names():
    from chains import registry
    from rag_app import embeddings

    assert registry.ENTRY_POINT_GROUP == "rag_app.llms"
    assert embeddings.ENTRY_POINT_GROUP == "rag_app.embeddings"


def test_the_console_script_resolves_to_the_cli_main():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"] == {"rag-app": "rag_app.cli:main"}
    target = EntryPoint(name="rag-app", value=project["scripts"]["rag-app"], group="console_scripts").load()
    from rag_app.cli.main import main

    assert callable(target) and target is main
