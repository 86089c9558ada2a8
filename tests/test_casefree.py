"""Case-folded text read by case-sensitive patterns finds what IGNORECASE finds in the text."""

from __future__ import annotations

import re
import string
import sys

import pytest

from notecheck.casefree import _FOLDS_DIFFERENTLY, CaseFreePattern, case_folded

# Every code point, surrogates left out (a str may not hold them alone).
ALL = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)


def test_every_code_point_folds_to_what_ignorecase_matches():
    # What the patterns name: ASCII letters and digits, punctuation, \w \d \s. For each code
    # point that folds to one character, IGNORECASE must match it to a pattern character
    # exactly when its fold is that character; the others must be the fallback's.
    folds = [c.casefold() for c in ALL]
    one_for_one = {c for c, f in zip(ALL, folds, strict=True) if len(f) == 1}
    changed = [(c, f) for c, f in zip(ALL, folds, strict=True) if len(f) == 1 and f != c]
    assert len(one_for_one) > 1_000_000 and len(changed) > 1_000
    disagree = set()
    for p in string.ascii_lowercase + string.digits + string.punctuation:
        matched = set(re.compile(re.escape(p), re.IGNORECASE).findall(ALL))
        folded_to = {p} | {c for c, f in changed if f == p}
        disagree |= (matched ^ folded_to) & one_for_one
    for cls in (r"\w", r"\d", r"\s"):  # a character its fold leaves alone cannot differ
        pattern = re.compile(cls)
        disagree |= {c for c, f in changed if bool(pattern.match(c)) != bool(pattern.match(f))}
    assert disagree == set(_FOLDS_DIFFERENTLY)
    for c in _FOLDS_DIFFERENTLY:
        assert case_folded(f"ok {c} ok") is None  # the IGNORECASE pattern runs instead


@pytest.mark.parametrize("text", ["Straße 30 MIN", "İlk 20 min", "fıve min", "SIX MIN", ""])
def test_a_pattern_finds_the_same_spans_folded_or_not(text):
    pattern = CaseFreePattern(r"(?P<n>\d+|six|five)\s*min")
    assert [m.span() for m in pattern.finditer(text)] == [
        m.span() for m in pattern.ignorecase.finditer(text)
    ]


def test_a_capital_in_a_case_free_pattern_is_refused():
    with pytest.raises(ValueError, match="lower case"):
        CaseFreePattern(r"Plan\b")
    CaseFreePattern(r"\S+(?P<Name>x)\d(?P=Name)\A")  # escapes and group names are not letters
