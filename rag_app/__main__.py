"""``python -m rag_app`` is ``rag-app``."""

from rag_app.cli.main import main

raise SystemExit(main())
