"""Case-insensitive regular expressions, run as case-sensitive ones over case-folded text.

Python's ``re`` folds the case of every character it tests under ``IGNORECASE``; a scan over a
whole note with a long alternation of words (headings, number words) spends about half its time
doing so. ``text.casefold()`` folds the note once, in C; the same pattern, written in lower case
and compiled without the flag, then finds the same matches at the same offsets about twice as
fast. Where folding is not one character for one character, or where ``re`` and ``casefold``
disagree about a character, the ``IGNORECASE`` pattern runs on the text as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Checked over every code point against ASCII letters, digits, punctuation and \w \d \s:
# "ı" (dotless i) matches "i" under IGNORECASE but casefolds to itself; U+0345 (a combining
# mark, not \w) casefolds to the Greek iota (\w). "İ" folds to two characters: length differs.
_FOLDS_DIFFERENTLY = ("\u0131", "\u0345")


def case_folded(text: str) -> str | None:
    """``text.casefold()`` when it has the same length and the same matches, else None."""
    folded = text.casefold()
    if len(folded) != len(text) or any(c in text for c in _FOLDS_DIFFERENTLY):
        return None
    return folded


class CaseFreePattern:
    """A pattern matched without regard to case; its letters must be written in lower case.

    Matches point into the folded text: read their offsets, and the groups only where case
    does not matter (slice the original text for the rest).
    """

    def __init__(self, pattern: str, flags: int = 0) -> None:
        # Folded text has no capital letter for a capital in the pattern to match (escapes
        # such as \S and group names aside).
        if re.search(r"[A-Z]", re.sub(r"\\.|\(\?P<\w+>|\(\?P=\w+\)", "", pattern)):
            raise ValueError(f"a case-free pattern is written in lower case: {pattern[:60]!r}")
        self.pattern = pattern
        self.ignorecase = re.compile(pattern, flags | re.IGNORECASE)
        self.folded = re.compile(pattern, flags)

    def finditer(self, text: str, folded: str | None = None) -> Iterator[re.Match[str]]:
        """The matches in ``text`` (``folded``: its ``case_folded`` form, if already made)."""
        if folded is None:
            folded = case_folded(text)
        if folded is None:
            return self.ignorecase.finditer(text)
        return self.folded.finditer(folded)
