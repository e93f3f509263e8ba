"""One definition of how an identifier stands in text: the SQL scan, the Python check of
exports and reports, and the edge's withholding agree on every form."""

import random

import duckdb
import pytest

from pilotmonitor.ingest import identifier_forms

FOUND = [
    "999964392",
    "R999964392",
    "BSN999964392",
    "bsn 9999.64.392",
    "9999 64 392",
    "999.964.392",
    "999 964 392",
    "(108329477)",
    "id_999964392.xml",
    "x999964392y",
    "JW315_999964392.xml#2",
    "a 999964392 en 108329477 b",
    "999964392-108329477",
]
NOT_FOUND = [
    "999964393",
    "1.999.964.392",
    "999964392,50",
    "€ 1 999 964 392",
    "a3f0999964392c1b" * 4,
    "550e8400-e29b-41d4-a716-999964392abc",
    "12345678901X",
    "000000000",
    "999999999",
    "R999999999",
    "2024-01-15 10:30:00",
    "",
]


def _sql_count(text: str) -> int:
    conn = duckdb.connect()
    return conn.execute(
        f"select len(list_filter({identifier_forms.candidates_sql('t')}, s -> "
        f"{identifier_forms.IDENTIFIER_LIKE_SQL})) from (select ? as t)",
        [text],
    ).fetchone()[0]


@pytest.mark.parametrize("text", FOUND)
def test_identifier_forms_are_found_in_python_and_sql_and_withheld(text):
    assert identifier_forms.find(text) >= 1
    assert _sql_count(text) == identifier_forms.find(text)
    withheld = identifier_forms.withhold(text)
    assert identifier_forms.find(withheld) == 0 and "<number>" in withheld


@pytest.mark.parametrize("text", NOT_FOUND)
def test_other_numbers_stay(text):
    assert identifier_forms.find(text) == 0 == _sql_count(text)
    assert identifier_forms.withhold(text) == text


def test_python_and_sql_agree_on_random_text():
    rng = random.Random(7)
    alphabet = "0123456789" * 4 + "abcRSN .,-_()#/"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 40))) for _ in range(3000)]
    texts += [
        f"{rng.choice(['', 'R', 'x ', 'BSN'])}{identifier_forms.withhold('')}"
        f"{rng.randrange(10**8, 10**9)}{rng.choice(['', 'a', ' ', '.'])}"
        for _ in range(3000)
    ]
    conn = duckdb.connect()
    conn.execute("create table t (i integer, t varchar)")
    conn.executemany("insert into t values (?, ?)", list(enumerate(texts)))
    sql = dict(
        conn.execute(
            f"select i, len(list_filter({identifier_forms.candidates_sql('t')}, s -> "
            f"{identifier_forms.IDENTIFIER_LIKE_SQL})) from t"
        ).fetchall()
    )
    python = {i: identifier_forms.find(t) for i, t in enumerate(texts)}
    assert sql == python
    assert sum(1 for n in python.values() if n) > 100  # the corpus does hold identifiers
