"""Invisible characters and look-alike letters do not hide a note's activities from the rules."""

from __future__ import annotations

import pytest

from notecheck.normalize import fold

PLAIN = (
    "Drove clt to the pharmacy (20 min) and waited 40 min while the refill was filled. "
    "Left VM for the PCP. Faxed the ROI to the clinic."
)
# What a hostile or careless paste does to the same note.
DISGUISED = {
    "zero-width spaces": PLAIN.replace("Drove", "Dro\u200bve")
    .replace("waited", "wa\u200bited")
    .replace("VM", "V\u200bM")
    .replace("Faxed", "Fa\u200cxed"),
    "soft hyphens and joiners": PLAIN.replace("pharmacy", "phar\u00admacy")
    .replace("Left", "Le\u200dft")
    .replace("Faxed", "Fa\u2060xed"),
    "Cyrillic look-alikes": PLAIN.replace("Drove", "Drоve")  # Cyrillic о
    .replace("waited", "wаited")  # Cyrillic а
    .replace("Faxed", "Fахеd"),  # Cyrillic а, х, е
    "full-width letters": PLAIN.replace("Left VM", "Ｌｅｆｔ ＶＭ").replace("40 min", "４０ min"),
    "combining marks": PLAIN.replace("waited", "wa\u0301ited").replace("Faxed", "Fa\u0308xed"),
    "enclosing marks and blank fillers": PLAIN.replace("VM", "V\u20ddM")
    .replace("waited", "wa\u3164ited")
    .replace("Faxed", "Fa\u2800xed"),
    "look-alike capitals and dotless i": PLAIN.replace("VM", "\u0474M").replace(
        "waited", "wa\u0131ted"
    ),
}


def test_ascii_text_is_not_copied_or_mapped():
    assert fold(PLAIN).text == PLAIN and fold(PLAIN).offsets is None
    assert fold("José met clt.").offsets is None  # accented, already canonical


def test_folding_maps_every_character_back():
    text = "a\u200bb Fахеd"
    folded = fold(text)
    assert folded.text == "ab Faxed"
    assert folded.span(0, 2) == (0, 3)
    assert text[slice(*folded.span(3, 8))] == "Fахеd"


@pytest.mark.parametrize("attack", sorted(DISGUISED))
def test_disguised_notes_keep_their_flags_and_offsets(engine, attack):
    text = DISGUISED[attack]
    plain, disguised = engine.check(PLAIN), engine.check(text)
    assert disguised.label == plain.label == "NON-BILLABLE"

    def flags(result):
        return sorted(e.rule_id for e in result.evidence if e.active and e.effect == "non-billable")

    assert flags(disguised) == flags(plain) and len(flags(plain)) >= 4
    assert disguised.time.non_billable_minutes == plain.time.non_billable_minutes == 60
    for item in (*disguised.evidence, *disguised.activities):
        assert text[item.start : item.end] == item.text
    assert disguised.sections[-1].end == len(text)
