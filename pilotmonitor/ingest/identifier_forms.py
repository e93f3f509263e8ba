"""How a citizen number (BSN) or an onderwijsnummer can stand in text, written down once.

Used at the edge (``withhold``) and at the exit (the leak scan in SQL, ``find`` on exports
and reports); the SQL and Python forms share these regular expressions. A candidate (nine
digits) counts when it passes the BSN 11-check or the onderwijsnummer rule.

Design notes: docs/design/ingest.md#pilotmonitoringestidentifier_formspy.
"""

from __future__ import annotations

import re

from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onderwijsnummer

RESERVED = ("000000000", "999999999")

# Separated forms: no letter or digit directly around, not inside a grouped number/decimal.
_BEFORE = "(?:^|[^0-9A-Za-z., ]|(?:^|[^0-9])[ .,])"
_AFTER = "(?:$|[^0-9A-Za-z.,]|[.,](?:$|[^0-9]))"
SEPARATED_FORMS = (
    _BEFORE + "([0-9]{9}|[0-9]{4}[.][0-9]{2}[.][0-9]{3}|[0-9]{4} [0-9]{2} [0-9]{3}"
    "|[0-9]{3}[.][0-9]{3}[.][0-9]{3}|[0-9]{3} [0-9]{3} [0-9]{3})" + _AFTER
)
SEPARATED_PREFILTER = "[0-9]{3}[ .]?[0-9]{2}"
# Glued forms: a word (letters and digits) with a letter directly before or after a run
# of exactly nine digits; the run is taken from the word by splitting on non-digits.
GLUED_WORD = "[0-9A-Za-z]*(?:[A-Za-z][0-9]{9}|[0-9]{9}[A-Za-z])[0-9A-Za-z]*"
GLUED_PREFILTER = "[A-Za-z][0-9]{9}|[0-9]{9}[A-Za-z]"
HEX_WORD = "[0-9a-fA-F]{12,}"  # hashes and UUID parts: digit runs in them are chance

# The 11-check over a nine-character digit string s, in SQL. Weights 9..2 and -1.
_WEIGHTED = (
    " + ".join(f"{9 - i} * cast(substr(s, {i + 1}, 1) as integer)" for i in range(8))
    + " - cast(substr(s, 9, 1) as integer)"
)
IDENTIFIER_LIKE_SQL = f"""
    (s not in {RESERVED} and (({_WEIGHTED}) % 11 + 11) % 11 = 0)
    or (s like '10%' and (({_WEIGHTED}) % 11 + 11) % 11 = 5)
"""

_SEPARATED = re.compile(SEPARATED_FORMS)
_GLUED = re.compile(GLUED_WORD)
_HEX = re.compile(HEX_WORD)


def candidates_sql(text: str) -> str:
    """A SQL expression: the list of nine-digit candidates (separators removed) in the
    VARCHAR expression ``text``. Identifier-like ones are kept by IDENTIFIER_LIKE_SQL."""
    separated = (
        f"list_transform(regexp_extract_all({text}, '{SEPARATED_FORMS}', 1), x -> "
        "regexp_replace(x, '[ .]', '', 'g'))"
    )
    glued = (
        f"flatten(list_transform(list_filter(regexp_extract_all({text}, '{GLUED_WORD}'), w -> not "
        f"regexp_full_match(w, '{HEX_WORD}')), w -> list_filter(regexp_split_to_array(w, "
        "'[^0-9]+'), d -> length(d) = 9)))"
    )
    return (
        f"case when regexp_matches({text}, '{SEPARATED_PREFILTER}|{GLUED_PREFILTER}') "
        f"then list_concat({separated}, {glued}) else [] end"
    )


def is_identifier(digits: str) -> bool:
    """A nine-digit string that is a valid BSN or onderwijsnummer."""
    if digits in RESERVED:
        return False
    return stdnum_bsn.is_valid(digits) or stdnum_onderwijsnummer.is_valid(digits)


def _candidates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of every candidate in ``text``."""
    found = [
        (m.start(1), m.end(1), re.sub("[ .]", "", m.group(1))) for m in _SEPARATED.finditer(text)
    ]
    for word in _GLUED.finditer(text):
        if _HEX.fullmatch(word.group()):
            continue
        for run in re.finditer("[0-9]+", word.group()):
            if len(run.group()) == 9:
                found.append((word.start() + run.start(), word.start() + run.end(), run.group()))
    return found


def find(text: str) -> int:
    """How many identifier-like numbers ``text`` holds (never which)."""
    return sum(1 for _, _, digits in _candidates(text) if is_identifier(digits))


def withhold(text: str, replacement: str = "<number>") -> str:
    """``text`` with every identifier-like number replaced; other numbers stay. Repeated
    until none is left: a match takes the character after it, so the second of two
    numbers one character apart is found in the next pass."""
    while True:
        spans = sorted(
            {(start, end) for start, end, digits in _candidates(text) if is_identifier(digits)},
            reverse=True,
        )
        if not spans:
            return text
        for start, end in spans:
            text = text[:start] + replacement + text[end:]


_AMOUNT = re.compile(r"(?:€|EUR)\s?[0-9][0-9., \u00a0]*")
_DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")


def find_in_document(text: str) -> int:
    """``find`` for a report or another document written for people: an amount after a
    currency sign (€ 123.456.782, EUR 123 456 782) is money, not a citizen number, and an
    embedded image (a base64 data URI) is no text."""
    return find(_AMOUNT.sub("€", _DATA_URI.sub("data:", text)))
