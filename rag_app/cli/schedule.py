"""``reindex --every 15m``: reindex on an interval until SIGINT/SIGTERM.

Runs never overlap (one loop, and the writer lock against other processes);
each run logs one line with its counts and duration; a signal stops the run in
progress after its current batch and ends the loop cleanly.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Callable, TextIO

from rag_app.errors import EXIT_OK, ConfigError, LockBusy, RagError

if TYPE_CHECKING:
    from rag_app.store.report import IndexReport

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``"15m"`` → 900.0; also ``"30s"``, ``"1h30m"``, ``"2d"`` or plain seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"--every {text!r}: use a duration like 30s, 15m, 1h or 1h30m")
    seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    if seconds < 1:
        raise ConfigError(f"--every {text!r}: the interval must be at least 1 second")
    return seconds


def log_line(report: "IndexReport") -> str:
    return (
        f"reindex files={report.files} read={report.files_read} added={report.added} "
        f"updated={report.updated} deleted={report.deleted} unchanged={report.unchanged} "
        f"skipped={len(report.skipped)} warnings={len(report.warnings)} chunks={report.chunks} duration={report.duration_s:.2f}s"
        + (" interrupted" if report.interrupted else "")
    )


def run_every(
    interval: float,
    run_once: Callable[[], "IndexReport"],
    on_stop: Callable[[], None],
    out: TextIO = sys.stderr,
    max_runs: int | None = None,
) -> int:
    """Call ``run_once`` every ``interval`` seconds (start to start) until a signal."""
    stopping = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        stopping.set()
        on_stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def say(text: str) -> None:
        print(f"{datetime.now().isoformat(timespec='seconds')} {text}", file=out, flush=True)

    say(f"reindex every {interval:g}s; SIGINT or SIGTERM stops after the current batch")
    runs = 0
    try:
        while not stopping.is_set():
            started = time.monotonic()
            try:
                report = run_once()
                say(log_line(report))
                from rag_app.cli.render import warning_lines

                for line in warning_lines(report):
                    say(line)
            except LockBusy as exc:
                say(f"skipped this run: {exc}")
            except RagError as exc:
                say(f"error: {exc}")
            runs += 1
            if max_runs is not None and runs >= max_runs:
                break
            stopping.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return EXIT_OK
