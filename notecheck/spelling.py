"""Misspelt rule words, read as the word meant ("transproted" is "transported").

Notes are typed fast: "transproted clt", "adovcated w/ worker", "recieved". A rule that names
the word never sees the misspelling, so the activity goes unflagged. A word is read as a rule
word when all of these hold:

- it is not an English word form spaCy's lemma table knows, nor a rule word itself;
- it is letters only and at least ``MIN_LENGTH`` long (short words are too often abbreviations);
- exactly one rule word of the same first letter is one edit away: a letter dropped, added or
  changed, or two neighbouring letters swapped.

The rule words are those of every shipped profile's patterns, with the inflections the lemma
table confirms for words the patterns name by lemma ("transport": "transported", "transporting").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from notecheck.lemmas import is_known_word, lemma

MIN_LENGTH = 6

# Endings tried on a pattern's lemma; a form is kept only when the lemma table maps it back.
_ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers")


def _inflections(word: str) -> set[str]:
    stems = {word}
    if word.endswith("e"):
        stems.add(word[:-1])  # advocate -> advocat+ing
    if len(word) > 2 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou":
        stems.add(word + word[-1])  # ship -> shipp+ed
    if word.endswith("y"):
        stems.add(word[:-1] + "i")  # apply -> appli+ed
    return {stem + ending for stem in stems for ending in _ENDINGS}


class Speller:
    """Finds the rule word a misspelling stands for (see the module docstring)."""

    def __init__(self, words: Iterable[str], lemma_words: Iterable[str] = ()) -> None:
        targets = {w for w in words if w.isalpha() and len(w) >= MIN_LENGTH}
        for base in lemma_words:
            if not base.isalpha():
                continue
            targets.update(
                form
                for form in _inflections(base)
                if len(form) >= MIN_LENGTH and lemma(form) == base and is_known_word(form)
            )
            if len(base) >= MIN_LENGTH:
                targets.add(base)
        self.targets = frozenset(targets)
        # Each word under itself and each of its one-letter deletions: two words one edit
        # apart share a key (a deletion of one, or of both), so a lookup is a few dict reads.
        self._by_key: dict[str, set[str]] = {}
        for target in self.targets:
            for key in _deletions(target) | {target}:
                self._by_key.setdefault(key, set()).add(target)

    def correct(self, word: str) -> str | None:
        """The rule word ``word`` misspells (lower case in, lower case out), or None."""
        if (
            len(word) < MIN_LENGTH
            or not word.isalpha()
            or word in self.targets
            or is_known_word(word)
        ):
            return None
        found = {
            target
            for key in _deletions(word) | {word}
            for target in self._by_key.get(key, ())
            if target[0] == word[0] and _one_edit(word, target)
        }
        return found.pop() if len(found) == 1 else None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """One letter dropped, added or changed, or two neighbouring letters swapped."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


@functools.lru_cache(maxsize=1)
def shipped_speller() -> Speller:
    """The speller for the words of every shipped profile's rules."""
    from notecheck.catalog import load_catalog
    from notecheck.profiles import load_profile, profile_names

    words: set[str] = set()
    lemma_words: set[str] = set()
    for name in profile_names():
        catalog = load_catalog(load_profile(name).folder.joinpath("rules.toml"))
        for rule in catalog.rules:
            for pattern in rule.compiled_patterns():
                for element in pattern:
                    if element.values is None or element.negate:
                        continue
                    (lemma_words if element.attr == "lemma" else words).update(element.values)
    return Speller(words, lemma_words)
