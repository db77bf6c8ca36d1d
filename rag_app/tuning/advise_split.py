"""Seen and unseen questions for ``advise --measure --train``: does the fine-tune learn knowledge, or pairs?

Questions are grouped by the document they are about (their first gold source;
the gold passage, or the question itself, when the QA set names none). With a
seed, about a quarter of the documents are held out entirely. Then:

- *asked* (:attr:`Split.unseen`, what every setup's ``accuracy`` is measured on):
  about three quarters from the other documents, one per document in turn, and
  the rest from the held-out documents (the model never saw a word about them);
- *trained* (:attr:`Split.train`): for each asked question about a seen document,
  up to :data:`TRAIN_PER_QUESTION` *other* questions of the same document, those
  on the same passage first;
- *recall check* (:attr:`Split.seen`): a sample of the trained pairs, asked again
  (``accuracy_seen``: memorised pairs, never the verdict).

When a document has one question only, nothing else about it can be trained:
the fallback is :func:`paraphrases` of its reference sentence (the sentence of
the gold passage, or of the corpus, that holds the answer): a fill-in-the-blank
and a statement of the fact, both deterministic. When even that sentence cannot
be found, the case is degenerate: the question counts as about an unseen document.
:attr:`Split.passages` are the texts ``--train-on docs`` continues training on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rag_app.measure.qa_sets import QAItem

#: Other questions of the same document trained per asked question.
TRAIN_PER_QUESTION = 2
#: Share of the documents held out from training (questions about them are asked too).
UNSEEN_DOC_SHARE = 0.25
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


@dataclass
class Split:
    """Which questions are trained on, asked, and asked again as a recall check."""

    unseen: list[QAItem]
    train: list[QAItem]
    seen: list[QAItem]
    passages: list[tuple[str, str]]  # (document, text) of the seen documents, for ``--train-on docs``
    seen_docs: list[str] = field(default_factory=list)
    unseen_docs: list[str] = field(default_factory=list)
    about_seen_docs: int = 0  # asked questions whose document was trained on
    mode: str = "questions"   # "questions" | "paraphrase" (some documents) | "degenerate"
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "asked": len(self.unseen), "asked_about_seen_documents": self.about_seen_docs,
                "asked_about_unseen_documents": len(self.unseen) - self.about_seen_docs,
                "trained_pairs": len(self.train), "recall_checked": len(self.seen),
                "training_passages": len(self.passages), "seen_documents": self.seen_docs,
                "unseen_documents": self.unseen_docs, "note": self.note}


def document_of(item: QAItem) -> str:
    """What a question is about: its first gold source, else its gold passage, else itself."""
    if item.sources:
        return item.sources[0]
    if item.contexts:
        return "passage:" + " ".join(item.contexts[0].split())[:80]
    return "question:" + item.id


def reference_sentence(item: QAItem, find: Callable[[QAItem], str | None] | None = None) -> str | None:
    """The sentence holding the answer: from the gold passage, the evidence, or ``find`` (the corpus)."""
    answer = (item.answer or "").strip()
    if not answer:
        return None
    texts = [str(e) for e in item.meta.get("evidences") or []] + list(item.contexts)
    for text in texts:
        for match in _SENTENCE.finditer(text):
            if answer.lower() in match.group(0).lower():
                return " ".join(match.group(0).split())
    found = find(item) if find else None
    if found:
        for match in _SENTENCE.finditer(found):
            if answer.lower() in match.group(0).lower():
                return " ".join(match.group(0).split())
    return None


def paraphrases(item: QAItem, sentence: str) -> list[QAItem]:
    """Two training pairs teaching ``item``'s fact without its question: a cloze and a statement."""
    answer = (item.answer or "").strip()
    at = sentence.lower().find(answer.lower())
    if not answer or at < 0:
        return []
    blank = sentence[:at] + "____" + sentence[at + len(answer):]
    subject = " ".join(re.findall(r"\w+", sentence[:at])[-6:]) or "it"
    return [
        QAItem(f"{item.id}~cloze", f"Fill in the blank: {blank}", answer, item.sources, item.contexts),
        QAItem(f"{item.id}~fact", f"What do the documents say about {subject}?", sentence, item.sources, item.contexts),
    ]


def split_questions(items: Sequence[QAItem], sample: int | None, seed: int = 0, seen_n: int | None = None,
                    find: Callable[[QAItem], str | None] | None = None,
                    passage: Callable[[QAItem], str | None] | None = None) -> Split:
    """Split ``items`` (see the module docstring); ``sample`` questions asked, ``seen_n`` trained ones asked again."""
    usable = [it for it in items if it.answer and it.answer.strip()]
    groups: dict[str, list[QAItem]] = {}
    for item in usable:
        groups.setdefault(document_of(item), []).append(item)
    rng = random.Random(seed)
    docs = sorted(groups)
    rng.shuffle(docs)
    for doc in docs:
        rng.shuffle(groups[doc])
    n = min(sample or len(usable), len(usable))
    single = [d for d in docs if len(groups[d]) == 1]
    # hold out documents (one-question ones first: only a paraphrase could teach them), keeping one seen
    n_held = min(round(len(docs) * UNSEEN_DOC_SHARE), len(docs) - 1) if len(docs) >= 2 else 0
    held = (single + [d for d in docs if d not in single])[:n_held]
    seen_docs = [d for d in docs if d not in held]
    held_items = [groups[d][r] for r in range(max((len(groups[d]) for d in held), default=0)) for d in held
                  if r < len(groups[d])]
    about_seen = _round_robin([groups[d] for d in seen_docs], n - min(round(n * UNSEEN_DOC_SHARE), len(held_items)))
    about_unseen = held_items[:n - len(about_seen)]
    asked_ids = {it.id for it in about_seen + about_unseen}
    train: list[QAItem] = []
    taught: list[QAItem] = []  # asked questions about a seen document with something of it trained
    paraphrased = degenerate = 0
    for item in about_seen:
        doc = document_of(item)
        trained = {t.id for t in train}
        others = [it for it in groups[doc] if it.id not in asked_ids and it.id not in trained]
        same = [it for it in others if it.contexts and item.contexts and it.contexts[0] == item.contexts[0]]
        picked = (same + [it for it in others if it not in same])[:TRAIN_PER_QUESTION]
        if not picked and any(document_of(t) == doc for t in train):
            taught.append(item)  # its document's other questions are trained already
            continue
        if not picked:
            sentence = reference_sentence(item, find)
            picked = paraphrases(item, sentence) if sentence else []
            paraphrased += bool(picked)
            degenerate += not picked
        if picked:
            train += picked
            taught.append(item)
    order = {it.id: i for i, it in enumerate(usable)}
    unseen = sorted(about_seen + about_unseen, key=lambda it: order[it.id])
    seen_n = len(train) if seen_n is None else seen_n
    seen = random.Random(seed + 1).sample(train, min(seen_n, len(train)))
    mode = "degenerate" if degenerate and not train else "paraphrase" if paraphrased else "questions"
    notes = []
    if paraphrased:
        notes.append(f"{paraphrased} asked question(s) are the only question of their document: the model was "
                     "trained on two paraphrases of the reference sentence instead (a fill-in-the-blank and the "
                     "sentence itself)")
    if degenerate:
        notes.append(f"{degenerate} asked question(s) are the only one of their document and no reference sentence "
                     "was found: nothing about them was trained, so they count as about unseen documents (degenerate case)")
    texts: list[tuple[str, str]] = []
    if passage is not None:
        for item in taught + [t for t in train if "~" not in t.id]:
            text = passage(item)
            if text and (document_of(item), text) not in texts:
                texts.append((document_of(item), text))
    return Split(unseen=unseen, train=train, seen=seen, passages=texts,
                 seen_docs=sorted({document_of(it) for it in taught}),
                 unseen_docs=sorted({document_of(it) for it in unseen if it not in taught}),
                 about_seen_docs=len(taught), mode=mode, note="; ".join(notes))


def _round_robin(groups: Sequence[list[QAItem]], wanted: int) -> list[QAItem]:
    """Up to ``wanted`` questions, one per document in turn; half of a document's questions at most
    (the other half is for training), its only question when it has one."""
    out: list[QAItem] = []
    caps = [1 if len(g) == 1 else len(g) // 2 for g in groups]
    for r in range(max(caps, default=0)):
        for group, cap in zip(groups, caps):
            if len(out) >= wanted:
                return out
            if r < cap:
                out.append(group[r])
    return out
