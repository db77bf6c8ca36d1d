"""``rag-app serve``: one warm process answering over HTTP (OpenAI-compatible, with sources).

Importing this package is cheap; FastAPI and uvicorn are imported by
:mod:`rag_app.serve.app` and the ``serve`` command only.
"""
