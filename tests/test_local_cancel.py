"""The real llama.cpp model stops between tokens once its request's cancel event is set.

A server cuts an answer (client gone, ``--shutdown-timeout`` passed) by setting the event in
:data:`chains.queueing.CANCEL`; the model must then end within a token or so and give its
turn back, not decode to ``max_tokens`` (which kept a stopped server alive).
"""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from chains.queueing import CANCEL, Cancelled

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow

#: With no stop sequence this makes SmolLM2 write until ``max_tokens`` (~10 s here).
RAMBLE = "Write a very long story about a dragon and a knight, with many chapters."
MAX_TOKENS = 400


@pytest.fixture(scope="module")
def chat():
    from chains.backends.local import LlamaCppChat

    model = LlamaCppChat(max_tokens=MAX_TOKENS, stop=[], n_threads=1)  # one thread: steady on a busy machine
    model.loaded()
    return model


def _with_cancel(cancel: threading.Event, fn):
    context = contextvars.copy_context()
    context.run(CANCEL.set, cancel)
    return context.run(fn)


def test_invoke_stops_within_a_token_of_the_cancel(chat):
    llama = chat.loaded().llama
    cancel = threading.Event()
    cut_at: list[float] = []

    def cut_once_writing() -> None:  # the prompt is one decode; cut once ~10 tokens are written
        deadline = time.monotonic() + 120
        while llama.n_tokens < 60 and time.monotonic() < deadline:
            time.sleep(0.005)
        cut_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cut_once_writing, daemon=True).start()
    with pytest.raises(Cancelled):
        _with_cancel(cancel, lambda: chat.invoke(RAMBLE))
    took = time.monotonic() - cut_at[0]
    assert took < 2.0, took  # a token or two, not the rest of 400 tokens (~10 s)
    assert llama.n_tokens < 60 + 20, llama.n_tokens  # the context: prompt (~46) and the few tokens before the cut
    assert chat.queue.running == 0 and chat.queue.waiting == 0  # the turn was given back


def test_a_stream_stops_at_the_next_token(chat):
    cancel = threading.Event()
    pieces: list[str] = []

    def read() -> None:
        for chunk in chat.stream(RAMBLE):
            pieces.append(chunk.text)
            if len(pieces) == 5:
                cancel.set()

    with pytest.raises(Cancelled):
        _with_cancel(cancel, read)
    assert 5 <= len(pieces) <= 7, pieces  # at most the token being picked when it was set
    assert chat.queue.running == 0


def test_a_cancel_event_never_set_changes_nothing(chat):
    plain = chat.invoke("Name three colours.", max_tokens=16)
    watched = _with_cancel(threading.Event(), lambda: chat.invoke("Name three colours.", max_tokens=16))
    assert watched.content == plain.content and plain.content
    assert watched.usage_metadata == plain.usage_metadata
