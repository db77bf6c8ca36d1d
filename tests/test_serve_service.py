"""The server's core without HTTP: turns for models that cannot run in parallel, message shapes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rag_app.serve.service import RagService
from rag_app.serve.shapes import BadRequest, split_messages

QUESTION = "How long is the warranty on an aluminium frame?"


class _Probe:
    """Shared state of the ``serial-probe`` backend: overlapping generations are recorded."""

    active = 0
    overlaps = 0
    guard = threading.Lock()
    entered = threading.Event()
    release = threading.Event()


@pytest.fixture
def probe_backend():
    from chains import AnswerBackend, register_llm

    class SerialProbe(AnswerBackend):
        """A stand-in for llama.cpp: generating for two callers at once is a bug."""

        name = "serial-probe"

        def answer(self, question, documents):
            return "".join(self.stream(question, documents))

        def stream(self, question, documents):
            with _Probe.guard:
                _Probe.active += 1
                _Probe.overlaps += _Probe.active > 1
            _Probe.entered.set()
            try:
                _Probe.release.wait(10)
                for word in ("probe", " answer", f" ({len(documents)} passages)."):
                    time.sleep(0.005)
                    yield word
            finally:
                with _Probe.guard:
                    _Probe.active -= 1

    @register_llm("serial-probe", description="test backend")
    def make(options):
        return SerialProbe()

    _Probe.active = _Probe.overlaps = 0
    _Probe.entered.clear()
    _Probe.release.clear()
    yield
    _Probe.release.set()


def test_generation_takes_turns_while_retrieval_goes_on(make_app, corpus: Path, probe_backend):
    app = make_app(llm="serial-probe", unsupported="flag")
    app.reindex([corpus])
    service = RagService(app, models=["serial-probe", "extractive"])
    service.warm()
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(service.ask(QUESTION, model="serial-probe").answer)) for _ in range(4)]
    threads[0].start()
    assert _Probe.entered.wait(10)  # the first request is generating and holds the model
    # Retrieval is not blocked by it: a new request retrieves now, and a parallel-safe backend answers.
    streaming = service.start(QUESTION, model="serial-probe")
    assert streaming.sources
    assert service.ask(QUESTION, model="extractive").sources
    assert _Probe.active == 1  # ... all while the first one is still generating
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.2)
    assert service.queued()["serial-probe"] == 4  # one generating, three waiting
    _Probe.release.set()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4 and all(a.startswith("probe answer") for a in answers)
    assert _Probe.overlaps == 0
    assert service.queued() == {"serial-probe": 0}
    service.close()


def test_unknown_model_names_mean_the_default_and_case_does_not_matter(make_app):
    service = RagService(make_app(llm="fake"))
    assert service.models == ["fake", "extractive"]
    assert service.resolve_model("EXTRACTIVE") == "extractive"
    assert service.resolve_model("gpt-4o-mini") == "fake"
    assert service.resolve_model(None) == "fake"
    service.close()


def test_messages_become_a_question_and_earlier_turns():
    question, turns = split_messages([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first?"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "?"}]},
        {"role": "user", "content": "third?"},
    ])
    assert question == "third?"
    assert turns == [("first?", "one"), ("second?", "")]
    for bad in ([], "hi", [{"content": "no role"}], [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]):
        with pytest.raises(BadRequest):
            split_messages(bad)


def test_a_long_running_app_follows_another_writers_rebuild(make_app, corpus: Path):
    reader = make_app()
    reader.reindex([corpus])
    before = reader.retrieve(QUESTION, k=2)
    writer = make_app()  # same index: as the server's reindex worker, or `reindex --rebuild` elsewhere
    writer.reindex([corpus], rebuild=True)  # switches collections and deletes the old one
    after = reader.retrieve(QUESTION, k=2)
    assert [d.page_content for d in after] == [d.page_content for d in before]
