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


def test_word_forms_give_the_token_table_spacy_reads_from_the_doc():
    """The lemma component looks each word form up once; the token table and the sentence
    starts read that instead of the Doc's arrays. Both must agree token for token, but for a
    misspelt rule word, which the rules read as the word meant."""
    from notecheck.nlp import _TOKENS_KEY, _WORD_FORMS_KEY, token_table, word_forms
    from notecheck.spelling import shipped_speller

    nlp = build_nlp()
    speller = shipped_speller()
    texts = EDGE_CASES + [note.text for note in load_notes()][::10]
    corrected = 0
    for doc in nlp.pipe(texts):
        assert (word_forms(doc) is not None) == (len(doc) > 0)
        from_forms = token_table(doc)
        assert from_forms.lemma == [t.lemma_ for t in doc]
        meant = [speller.correct(t.lower_) for t in doc]
        assert from_forms.lower == [m or t.lower_ for m, t in zip(meant, doc, strict=True)]
        corrected += sum(m is not None for m in meant)
        assert from_forms.skip == [t.is_punct or t.is_space for t in doc]
        del doc.user_data[_TOKENS_KEY]
        doc.user_data.pop(_WORD_FORMS_KEY, None)
        assert word_forms(doc) is None
        assert token_table(doc) == from_forms  # worked out again for a Doc without them
    assert corrected > 0  # the corpus has typos ("recieved")


def test_a_misspelt_rule_word_is_read_as_the_word_meant():
    from notecheck.nlp import token_table

    nlp = build_nlp()
    doc = nlp("Writer transproted clt and adovcated w/ the landlord. Kalomiren recieved it.")
    table = token_table(doc)
    assert table.lower[1] == "transported" and table.lemma[1] == "transport"
    assert table.lemma[4] == "advocate"
    assert doc[1].lower_ == "transproted"  # the Doc keeps what was typed
    assert table.lower[9] == "kalomiren"  # a name no rule word is one edit from


def test_sentence_starts_are_the_same_without_the_lemma_components_lookup():
    nlp = build_nlp()
    splitter = nlp.get_pipe("notecheck_sentences")
    for text in EDGE_CASES + [note.text for note in load_notes()][::25]:
        doc = nlp.make_doc(text)
        nlp.get_pipe("notecheck_lemmas")(doc)
        splitter(doc)
        expected = [t.is_sent_start for t in doc]
        bare = nlp.make_doc(text)  # no word forms: the splitter looks them up itself
        splitter(bare)
        assert [t.is_sent_start for t in bare] == expected, text[:60]
        assert any(expected) or not len(doc)
