"""The pipeline's tokenizer: spaCy's own tokens, found in spaCy's cache more often."""

from __future__ import annotations

import time

from notecheck.data import load_notes
from notecheck.nlp import ChunkPrimingTokenizer, build_nlp

EDGE_CASES = [
    "",
    " ",
    "  leading spaces, trailing  ",
    "Clt\tand CM\t\ttabs",
    "Line one.\nLine two.\n\n  Indented after a blank line \n",
    "Dr. Smith's f/u at 3:30pm w/ clt; d/c planned. Can't reach (w/o VM).",
    "Emoji 👍🏽 and astral 𝒳 characters, e.g. “quoted” — dashes–too",
    "Staff: Kalomi R., QMHP  MRN 123456  DOS 3/14/2026  10:23-14:05\nMet w/ clt.",
]


def _tokens(doc):
    return [(t.text, t.whitespace_, t.norm_, t.idx) for t in doc]


def test_tokens_are_spacys_own_on_every_corpus_note_and_edge_case():
    ours = build_nlp().tokenizer
    assert isinstance(ours, ChunkPrimingTokenizer)
    reference = build_nlp().tokenizer.tokenizer  # the wrapped spaCy tokenizer, never primed
    texts = EDGE_CASES + [note.text for note in load_notes()]
    for _ in range(2):  # cold, then with every chunk primed
        for text in texts:
            doc = ours(text)
            assert doc.text == text
            assert _tokens(doc) == _tokens(reference(text)), text[:60]


def test_notes_with_line_breaks_are_tokenized_from_the_cache():
    ours = build_nlp().tokenizer
    plain = build_nlp().tokenizer.tokenizer
    notes = [
        f"Header {i}  MRN {100000 + i}\nCM called the landlord re: rent, left VM.\n"
        "Clt reports the heat is out; CM faxed the repair request to the housing office."
        for i in range(300)
    ]

    def seconds(tokenize):
        start = time.process_time()
        for _ in range(3):
            for text in notes:
                tokenize(text)
        return time.process_time() - start

    seconds(ours), seconds(plain)  # both warm
    # spaCy stops caching at the first line break of each note; primed chunks stay cached.
    assert seconds(ours) < 0.7 * seconds(plain)


def test_the_wrapped_tokenizer_is_still_reachable():
    ours = build_nlp().tokenizer
    assert [t for t, _ in ours.explain("f/u w/ clt")] == ["SPECIAL-1", "SPECIAL-1", "TOKEN"]
