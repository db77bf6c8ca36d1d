"""``reindex --watch``: reindex when files change, until SIGINT/SIGTERM.

One run at start, then one run per burst of changes, after the files have been
quiet for ``--debounce`` seconds. Each run is the ordinary incremental reindex
(unchanged files are skipped by size and mtime) under the writer lock, and logs
the same line as ``--every``. When another process holds the lock the run is
retried a few seconds later, so no change is missed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

from rag_app.errors import EXIT_OK, ConfigError, LockBusy, RagError
from rag_app.cli.schedule import log_line

if TYPE_CHECKING:
    from rag_app.store.report import IndexReport
    from rag_app.app import RagApp

RETRY_S = 5.0


def _ignored(path: str, roots: Iterable[Path], ignore: Iterable[Path]) -> bool:
    """Hidden files, caches and the index's own directory (below a watched root) don't count."""
    changed = Path(path)
    if any(changed == p or p in changed.parents for p in ignore):
        return True
    for root in roots:
        if root in changed.parents:
            parts = changed.relative_to(root).parts
            return any(part.startswith(".") or part in {"__pycache__", "node_modules"} for part in parts)
    return False


def run_watch(
    paths: list[Path],
    run_once: Callable[[], "IndexReport"],
    on_stop: Callable[[], None],
    debounce: float = 1.0,
    ignore: Iterable[Path] = (),
    out: TextIO = sys.stderr,
) -> int:
    """Run ``run_once`` now and after every settled burst of changes under ``paths``."""
    try:
        from watchfiles import watch
    except ImportError:
        raise ConfigError("reindex --watch needs watchfiles: pip install 'rag-app[serve]'") from None

    ignore = [p.resolve() for p in ignore]
    roots = [p.resolve() for p in paths]
    stopping = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stopping.set()
        on_stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def say(text: str) -> None:
        print(f"{datetime.now().isoformat(timespec='seconds')} {text}", file=out, flush=True)

    def attempt() -> bool:
        """One run; ``False`` when it must be retried (the lock was busy)."""
        try:
            report = run_once()
        except LockBusy as exc:
            say(f"busy, retrying in {RETRY_S:g}s: {exc}")
            return False
        except RagError as exc:
            say(f"error: {exc}")
            return True
        say(log_line(report))
        from rag_app.cli.render import warning_lines

        for line in warning_lines(report):
            say(line)
        return True

    quiet_ms = max(50, int(debounce * 1000))
    try:
        say(f"watching {', '.join(str(p) for p in paths)} (debounce {debounce:g}s); SIGINT or SIGTERM stops it")
        # The first (empty) yield comes once the watcher is in place: the first run starts
        # then, so a change made while it runs is seen, not lost.
        pending, retry_at = True, 0.0
        for changes in watch(
            *paths, step=quiet_ms, debounce=max(quiet_ms * 10, 5000), stop_event=stopping,
            rust_timeout=200, yield_on_timeout=True, raise_interrupt=False,
        ):
            if stopping.is_set():
                break
            relevant = [p for _, p in changes if not _ignored(p, roots, ignore)]
            if relevant or (pending and time.monotonic() >= retry_at):
                pending = not attempt()
                retry_at = time.monotonic() + RETRY_S
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return EXIT_OK


def reindex_watch(app: "RagApp", args: argparse.Namespace) -> int:
    """``rag-app reindex --watch [PATH ...]``."""
    if args.every or args.dry_run or args.rebuild:
        raise ConfigError("--watch cannot be combined with --every, --dry-run or --rebuild")
    if args.debounce < 0:
        raise ConfigError("--debounce must not be negative")
    s = app.settings
    paths = [Path(p) for p in (args.paths or s.split_list(s.data_paths))]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"Cannot watch {', '.join(missing)}: no such file or directory")
    return run_watch(
        paths,
        lambda: app.reindex(paths, verify=args.verify, wait=args.wait),
        app.stop,
        debounce=args.debounce,
        ignore=[s.persist_path],
    )
