"""The ``rag-app`` command: one module per group of commands, the REPL and text rendering."""

from rag_app.cli.main import main

__all__ = ["main"]
