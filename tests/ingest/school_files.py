"""Small school exports (enrolments, absence) written with the synthetic senders'
renderer, and loading them with the real readers, for the redelivery and rekey tests."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from pilotmonitor.ingest.loader import LoadSummary, load_source
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.sources import SOURCES_BY_NAME, ReadContext, SourceReader
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.school_exports import ExportFile, render

SCHOOL = "99WA00"
T = pd.Timestamp
COLUMNS = [
    "bsn",
    "onderwijsnummer",
    "surname",
    "surname_prefix",
    "given_name",
    "sex",
    "birth_date",
    "street",
    "house_number",
    "postcode",
    "city",
    "group",
    "enrol_start",
    "enrol_end",
    "destination",
]
# the fourth BSN fails the 11-check: quarantined, with the pseudonym of what was delivered
PUPILS = pd.DataFrame(
    [
        [
            "999900006",
            "",
            "Jansen-Synthetisch",
            "",
            "Anna",
            "V",
            T("2010-03-14"),
            "Proefstraat",
            "12",
            "9673 MM",
            "Winschoten",
            "7",
            T("2013-08-01"),
            pd.NaT,
            "",
        ],
        [
            "",
            "100000004",
            "Bakker-Synthetisch",
            "de",
            "Bram",
            "M",
            T("2011-11-30"),
            "Testlaan",
            "3a",
            "9675 AB",
            "Oostwold",
            "6",
            T("2014-08-01"),
            T("2017-03-01"),
            "SBO",
        ],
        [
            "012345672",
            "",
            "Visser-Synthetisch",
            "van",
            "Daan",
            "V",
            T("2012-01-01"),
            "Fictieve Kade",
            "101",
            "9671 ZZ",
            "Scheemda",
            "5",
            T("2016-09-01"),
            pd.NaT,
            "",
        ],
        [
            "123456789",
            "",
            "Smit-Synthetisch",
            "",
            "Eva",
            "M",
            T("2009-07-09"),
            "Testweg",
            "8",
            "9673",
            "Finsterwolde",
            "8",
            T("2012-08-01"),
            pd.NaT,
            "",
        ],
    ],
    columns=COLUMNS,
)
ABSENCE = pd.DataFrame(
    [
        ["999900006", "", T("2016-09-01"), 5.5, "Geoorloofd", "Ziek", ""],
        ["", "100000004", T("2016-09-02"), 2.0, "Ongeoorloofd", "Te laat", ""],
        ["123456789", "", T("2016-10-03"), 6.0, "Geoorloofd", "Ziek", ""],
    ],
    columns=["bsn", "onderwijsnummer", "date", "hours", "kind", "reason", "comment"],
)
KIND = {"school_enrolments": "inschrijvingen", "school_absence": "verzuim"}


def key(version: str, seed: int) -> PseudonymKey:
    """A random-looking (not weak) test key, the same for the same seed."""
    return PseudonymKey(version, random.Random(seed).randbytes(32))


def export_bytes(source: str, rows: pd.DataFrame | None = None, school_year: int = 2016) -> bytes:
    if rows is None:
        rows = PUPILS if source == "school_enrolments" else ABSENCE
    rows = rows.assign(brin=SCHOOL[:4], vestiging=SCHOOL[4:], planted=None)
    if source == "school_enrolments" and "enrolment_kind" not in rows:
        rows["enrolment_kind"] = "Hoofdinschrijving"
    dialect = Dialect("comma_utf8")
    return dialect.to_bytes(
        render(
            ExportFile(
                SCHOOL,
                source,
                school_year,
                T(f"{school_year + 1}-08-10"),
                dialect,
                rows.reset_index(drop=True),
            )
        )
    )


def put(
    landing: Path, source: str, period: str, delivered: str, data: bytes, copy: str = ""
) -> Path:
    """Write a delivery under the naming convention; returns its path."""
    folder = landing / "schools" / SCHOOL
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SCHOOL}_{KIND[source]}_{period}_{delivered}{copy}.csv"
    path.write_bytes(data)
    return path


def load(conn, landing: Path, source: str, pseudonym_key: PseudonymKey) -> LoadSummary:
    ctx = ReadContext(Pseudonymiser(pseudonym_key), None, None)
    reader = SourceReader(source, ctx)
    return load_source(
        conn,
        landing,
        source,
        SOURCES_BY_NAME[source].tables,
        reader,
        key_version=pseudonym_key.version,
    )


def reader_for(pseudonym_key: PseudonymKey):
    ctx = ReadContext(Pseudonymiser(pseudonym_key), None, None)
    return lambda source: SourceReader(source, ctx)
