"""Text as the rules read it: invisible characters and look-alike letters folded away.

A zero-width space inside "trans\u200bported", a soft hyphen, full-width letters or a Cyrillic
"о" in "transpоrted" look the same to a reviewer but hide the word from every rule. The engine
matches on the folded text and reports offsets into the text it was given: ``Folded.offsets``
maps each folded character back to the original one.

Folding: NFKC per character (full-width forms, ligatures, mathematical letters, non-breaking
spaces); format characters (Unicode category Cf: zero-width space/joiners, soft hyphen, word
joiner, BOM, direction marks), combining marks (Mn, Me) and blank fillers (Hangul filler, blank
braille) are dropped; Cyrillic, Greek and Latin letters that look like a plain Latin letter
become it. Plain ASCII text is returned as it is, at no cost.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from notecheck.result import Result

# Cyrillic and Greek letters drawn like a Latin letter (the common entries of Unicode's
# confusables list for Latin a-z). Letters that only resemble one in some fonts are left alone.
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l",
        "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "ս": "u", "ѵ": "v", "ԝ": "w", "х": "x",
        "у": "y", "Ѵ": "V",
        "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
        "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y",
        # Greek
        "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "υ": "u",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        # Latin letters drawn like plain ones
        "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ʏ": "y",
    }
)  # fmt: skip


# Format characters (zero-width space and joiners, soft hyphen, word joiner, BOM, direction
# marks) and combining marks, nonspacing and enclosing: invisible inside a word.
_DROPPED_CATEGORIES = ("Cf", "Mn", "Me")
# Characters that are letters or symbols to Unicode but print as nothing (Hangul fillers,
# the blank braille pattern).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


@dataclass(frozen=True)
class Folded:
    """The folded text; ``offsets[i]`` is where folded character ``i`` came from.

    ``offsets`` has one entry more than ``text`` (the original length), and is ``None`` when
    folding changed nothing.
    """

    text: str
    offsets: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` of the folded ``[start, end)``."""
        if self.offsets is None:
            return start, end
        if end <= start:
            at = self.offsets[start]
            return at, at
        # The end is one past the original character of the last folded one, so a span that
        # ends on a folded-away character does not take it in.
        return self.offsets[start], self.offsets[end - 1] + 1


def fold(text: str) -> Folded:
    """Fold ``text`` for matching (see the module docstring)."""
    if text.isascii():
        return Folded(text)
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            chars.append(char)
            offsets.append(index)
            continue
        for out in unicodedata.normalize("NFKC", char).translate(_LOOK_ALIKES):
            if unicodedata.category(out) in _DROPPED_CATEGORIES or out in _BLANK_LETTERS:
                continue
            chars.append(out)
            offsets.append(index)
    folded = "".join(chars)
    if folded == text:
        return Folded(text)
    offsets.append(len(text))
    return Folded(folded, tuple(offsets))


def unfold_result(result: Result, folded: Folded, original: str) -> Result:
    """``result`` computed on ``folded.text``, with offsets and quoted text of ``original``."""
    if folded.offsets is None:
        return result

    def at(item: Any) -> Any:
        start, end = folded.span(item.start, item.end)
        if hasattr(item, "text"):
            return replace(item, start=start, end=end, text=original[start:end])
        return replace(item, start=start, end=end)

    return replace(
        result,
        evidence=tuple(at(e) for e in result.evidence),
        sections=tuple(at(s) for s in result.sections),
        activities=tuple(at(a) for a in result.activities),
    )
