"""The interactive loop: ask questions, inspect sources, switch settings.

Line editing and history come from the standard ``readline`` module when the
input is a terminal. Ctrl-C drops the current line (or stops an answer being
generated), Ctrl-D leaves, as in a shell.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TextIO

from rag_app.errors import EXIT_OK, RagError
from rag_app.cli.render import sources_block

if TYPE_CHECKING:
    from rag_app.results import Answer
    from rag_app.app import RagApp

HELP = """Type a question, or a command:
  :sources     show the last answer's sources in full
  :why         show which text of the sources supports each sentence of the last answer
  :k N         retrieve N chunks per question
  :llm NAME    switch the answer backend (local, extractive, openai, ...)
  :reset       forget the conversation (follow-ups are read with the last turns)
  :help        this text
  :quit        leave (Ctrl-D works too)"""

PROMPT = "rag> "


class Repl:
    """A small loop over :meth:`RagApp.stream`; ``input_fn`` and ``out`` make it testable."""

    def __init__(
        self,
        app: "RagApp",
        input_fn: Callable[[str], str] = input,
        out: TextIO | None = None,
        options: dict[str, Any] | None = None,
        history_file: str | None = None,
    ) -> None:
        """``history_file``: keep line history there (readline), when the input is a terminal."""
        from rag_app.answer.conversation import Conversation

        self.app = app
        self.options = {k: v for k, v in (options or {}).items() if v is not None}  # retrieval + chain options
        self.conversation = Conversation(app.settings.history_turns)
        self.input = input_fn
        self.out = out or sys.stdout
        self.k = app.settings.k
        self.llm = app.settings.llm
        self.last: Answer | None = None
        self.history_file = history_file

    def say(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    def run(self) -> int:
        history = self._setup_history()
        self.say(f"rag-app REPL ({self.llm}, k={self.k}). :help for commands, Ctrl-D to leave.")
        try:
            while True:
                try:
                    line = self.input(PROMPT).strip()
                except KeyboardInterrupt:
                    self.say()
                    continue
                except EOFError:
                    self.say()
                    break
                if not line:
                    continue
                if line.startswith(":"):
                    if not self.command(line):
                        break
                    continue
                self.ask(line)
        finally:
            if history is not None:
                history()
        return EXIT_OK

    def command(self, line: str) -> bool:
        """Run a ``:command``; ``False`` means leave."""
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in {"quit", "q", "exit"}:
            return False
        if name == "help":
            self.say(HELP)
        elif name == "sources":
            self.say(sources_block(self.last.sources, full=True) if self.last else "No answer yet.")
        elif name == "why":
            from rag_app.cli.support_view import why_text

            self.say(why_text(self.last))
        elif name == "k":
            if arg.isdigit() and int(arg) > 0:
                self.k = int(arg)
                self.say(f"k = {self.k}")
            else:
                self.say("usage: :k N  (N a positive whole number)")
        elif name == "reset":
            self.conversation.reset()
            self.say("Conversation cleared.")
        elif name == "llm":
            if not arg:
                self.say(f"llm = {self.llm}")
                return True
            try:
                self.app.llm(arg)
            except RagError as exc:
                self.say(f"error: {exc}")
            else:
                self.llm = arg
                self.say(f"llm = {self.llm}")
        else:
            self.say(f"Unknown command :{name}. {HELP}")
        return True

    def ask(self, question: str) -> None:
        try:
            standalone = self.app.condense(question, list(self.conversation.turns), llm=self.llm)
            if standalone != question:
                self.say(f"(searching: {standalone})")
            streaming = self.app.stream(standalone, k=self.k, llm=self.llm, **self.options)
            for piece in streaming:
                self.say(piece, end="")
        except KeyboardInterrupt:
            self.say("\n(stopped)")
            return
        except RagError as exc:
            self.say(f"error: {exc}")
            return
        self.last = streaming.result
        assert self.last is not None
        self.conversation.add(question, self.last.answer)
        from rag_app.cli.support_view import after_stream

        self.say("\n")
        extra = after_stream(self.last)
        if extra:
            self.say(extra + "\n")
        self.say(sources_block(self.last.sources, support=self.last.support))

    def _setup_history(self) -> Callable[[], None] | None:
        if not self.history_file or not sys.stdin.isatty():
            return None
        try:
            import readline
        except ImportError:  # pragma: no cover - not on every platform
            return None
        path = Path(self.history_file).expanduser()
        try:
            readline.read_history_file(path)
        except OSError:
            pass
        readline.set_history_length(1000)

        def save() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(path)
            except OSError:
                pass

        return save
