"""The ``serve`` command (standard library only at import; the web stack loads when it runs)."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from typing import Any

from rag_app.cli.options import add_ask_options, add_index_options, open_app, query_keywords
from rag_app.errors import EXIT_OK, ConfigError

INSTALL_HINT = "pip install 'rag-app[serve]'"
#: After the shutdown deadline, how long a cut generation may take to reach its next token.
STOP_GRACE_S = 1.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="answer over HTTP: OpenAI-compatible API with sources, and a web page")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--models", metavar="NAME,...", help="backends a request may pick with `model`; the first is the default (RAG_SERVE_MODELS; default: --llm and extractive)")
    p.add_argument("--api-key", help="require `Authorization: Bearer KEY` (RAG_API_KEY; prefer the variable: flags show in `ps`)")
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS", help="on SIGTERM, let answers being generated finish for this long, then answer them 503 (default 30); queued requests get 503 at once")
    p.add_argument("--max-queue", type=int, metavar="N", help="requests that may wait for a slow model (local, hf); more get 503 with Retry-After (default: 8 per CPU core, at most 64)")
    p.add_argument("--allowed-hosts", metavar="NAME,...", help="more names the Host header may carry besides localhost, 127.0.0.1, [::1] and --host (`*`: any; for a server reached by name)")
    p.add_argument("--cors-origins", metavar="URL,...", help="web origins (https://app.example) whose pages may call the API; default none")
    add_ask_options(p)
    add_index_options(p)


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket, or a one-line error that says what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror}): pass another --port or --host") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def cmd_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: use a port between 1 and 65535")
    if args.max_queue is not None and args.max_queue < 0:
        raise ConfigError(f"--max-queue {args.max_queue}: use 0 or more")
    if args.shutdown_timeout < 0:
        raise ConfigError(f"--shutdown-timeout {args.shutdown_timeout}: use 0 or more seconds")
    try:
        import uvicorn

        from rag_app.serve.app import create_app
        from rag_app.serve.work import Shutdown
    except ImportError as exc:
        raise ConfigError(f"`rag-app serve` needs {exc.name}: {INSTALL_HINT}") from None
    from rag_app.serve.service import RagService

    with open_app(args, api_key=args.api_key, serve_models=args.models) as app:
        options = query_keywords(args)
        service = RagService(app, options=options, max_queue=args.max_queue)
        for warning in service.warm():
            print(f"warning: {warning}", file=sys.stderr)
        sock = _listen(args.host, args.port)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(
            f"rag-app serve: http://{shown}:{args.port}/ (models: {', '.join(service.models)}; "
            f"{'API key required' if app.settings.api_key else 'no API key'}); SIGINT or SIGTERM stops it",
            file=sys.stderr, flush=True,
        )
        shutdown = Shutdown(service, args.shutdown_timeout)
        web = create_app(service, host=args.host, extra_hosts=_names(args.allowed_hosts),
                         cors_origins=_names(args.cors_origins), shutdown=shutdown)
        # uvicorn cuts what still runs a little after our own deadline has answered it with a JSON 503.
        config = uvicorn.Config(web, log_level="info", access_log=not args.quiet,
                                timeout_graceful_shutdown=args.shutdown_timeout + 1.0, server_header=False)

        class Server(uvicorn.Server):
            async def shutdown(self, sockets: Any = None) -> None:
                shutdown.begin()  # queued requests get their 503 now; running ones have until the deadline
                await super().shutdown(sockets)

        # uvicorn re-raises SIGINT/SIGTERM once it has shut down; with a handler of
        # ours in place that ends here, so the service closes and the exit code is 0.
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            Server(config).run(sockets=[sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
            # An answer cut at --shutdown-timeout has had its 503 and its cancel event: the model
            # stops at its next token. Wait a moment for that, never for a whole answer.
            service.wait_idle(STOP_GRACE_S)
            service.close()
    print("rag-app serve: stopped", file=sys.stderr, flush=True)
    return EXIT_OK
