"""School types: the one list, read from the dbt seed ``school_types``.

The seed (``dbt_project/seeds/school_types.csv``) holds each type's code (BAO, SBO, SO,
VO, PRO, VSO), its Dutch label as DUO publishes it, an English description, its sector
(PO primary, VO secondary) and whether it is special education. The warehouse joins the
seed; the synthetic generator, the DUO reader and the scenario schema read it from here.

A referral to special education is a move from a regular type (BAO, VO, PRO) to a
special one (SBO, SO, VSO); praktijkonderwijs is regular secondary education.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from pilotmonitor.settings import REPO_ROOT

SCHOOL_TYPE_SEED = REPO_ROOT / "dbt_project" / "seeds" / "school_types.csv"
SECTORS = ("PO", "VO")


@dataclass(frozen=True)
class SchoolType:
    code: str
    label_nl: str
    description_en: str
    sector: str
    is_special_education: bool


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(
            f"{SCHOOL_TYPE_SEED.name}: is_special_education must be true or false, not {text!r}"
        )
    return text == "true"


@cache
def school_types() -> dict[str, SchoolType]:
    """Code -> school type, in the seed's order."""
    with SCHOOL_TYPE_SEED.open(encoding="utf-8") as handle:
        rows = [
            SchoolType(
                row["code"],
                row["label_nl"],
                row["description_en"],
                row["sector"],
                _boolean(row["is_special_education"]),
            )
            for row in csv.DictReader(handle)
        ]
    for row in rows:
        if row.sector not in SECTORS:
            raise ValueError(
                f"{SCHOOL_TYPE_SEED.name}: school type {row.code} has unknown sector {row.sector!r}"
            )
    return {row.code: row for row in rows}


def codes(sector: str | None = None) -> tuple[str, ...]:
    """Every school type code, or those of one sector (PO or VO)."""
    return tuple(
        code for code, row in school_types().items() if sector is None or row.sector == sector
    )


def special_codes() -> tuple[str, ...]:
    """The special-education types (SBO, SO, VSO): the destinations of a referral."""
    return tuple(code for code, row in school_types().items() if row.is_special_education)


def regular_codes() -> tuple[str, ...]:
    """The regular types (BAO, VO, PRO): the senders of a referral to special education."""
    return tuple(code for code, row in school_types().items() if not row.is_special_education)


def code_pattern() -> str:
    """A regular expression matching exactly one school type code."""
    return "^(" + "|".join(codes()) + ")$"


def label_nl(code: str) -> str:
    return school_types()[code].label_nl
