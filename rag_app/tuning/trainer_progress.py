"""Progress of a ``Trainer`` run: a loss line per step, and Ctrl-C that stops with a checkpoint."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable


class TrainerProgress:
    """Trainer callback: a loss line per step (above the bar on a terminal); Ctrl-C asks for a checkpoint."""

    def __init__(self, log: Callable[[str], None], show_bar: bool) -> None:
        from transformers import TrainerCallback

        self.log = log
        self.show_bar = show_bar
        self.interrupted = False
        # a TrainerCallback instance whose hooks forward here (keeps transformers imports lazy)
        outer = self

        class _CB(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
                if logs and "loss" in logs:
                    line = f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}"
                    if outer.show_bar:
                        from tqdm import tqdm

                        tqdm.write(line, file=sys.stderr)
                    else:
                        outer.log(line)

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if outer.interrupted:
                    control.should_save = True
                    control.should_training_stop = True

        self.callback = _CB()


class ctrl_c_saves:
    """While training, the first Ctrl-C stops after the current step with a checkpoint; a second one aborts."""

    def __init__(self, progress: TrainerProgress) -> None:
        self.progress = progress
        self.previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.progress.interrupted:
            raise KeyboardInterrupt
        self.progress.interrupted = True
        self.progress.log("interrupt: saving a checkpoint after this step (Ctrl-C again to abort)")

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

