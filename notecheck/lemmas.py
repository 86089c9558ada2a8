"""Lower-cased lookup lemmas shared by the pipeline and the rule-pattern compiler."""

from __future__ import annotations

import functools

from spacy.lookups import Table, load_lookups


@functools.lru_cache(maxsize=1)
def _table() -> Table:
    # A spaCy Table is keyed by string hashes; .get(str) hashes for us.
    return load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")


def lemma(word: str) -> str:
    """The lookup lemma of ``word`` lower-cased ("Transported" -> "transport")."""
    lower = word.lower()
    if lower in ("'s", "’s"):
        return lower  # the table maps the clitic to "have"; patterns want it as written
    return str(_table().get(lower, lower))


@functools.lru_cache(maxsize=1)
def _lemma_values() -> frozenset[str]:
    return frozenset(str(v) for v in _table().values())


def is_known_word(word: str) -> bool:
    """Whether the lemma table knows lower-case ``word``: as an inflected form or as a lemma.

    The table holds only forms whose lemma differs ("transported"); base forms are its values
    ("transport"). Words with no inflection ("paperwork") and names are not known.
    """
    return word in _table() or word in _lemma_values()
