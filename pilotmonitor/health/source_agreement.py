"""Do two sources of the same outcome agree? Thuiszitters are counted from the school
absence records and registered in the municipal leerplicht register; the warehouse
compares them per municipality and school year (marts.fct_thuiszitter_sources_
municipality_year, whose ``is_disagreement`` holds the rule and its thresholds: dbt vars
thuiszitter_agreement_min_share and _min_spells). Disagreement is a quality signal for
the data steward, not an error: it never blocks publication."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from pilotmonitor.table_digest import table_exists

TABLE = ("marts", "fct_thuiszitter_sources_municipality_year")
COLUMNS = [
    "municipality_code",
    "school_year",
    "spells_school",
    "spells_register",
    "spells_both",
    "spells_school_only",
    "spells_register_only",
    "agreement_share",
    "has_register",
    "is_disagreement",
]


@dataclass(frozen=True)
class ThuiszitterAgreement:
    years: pd.DataFrame  # one row per municipality and school year (COLUMNS)

    @property
    def disagreements(self) -> pd.DataFrame:
        return self.years[self.years.is_disagreement.fillna(False).astype(bool)]

    @property
    def totals(self) -> dict[str, int]:
        return {
            c: int(self.years[c].sum())
            for c in [
                "spells_school",
                "spells_register",
                "spells_both",
                "spells_school_only",
                "spells_register_only",
            ]
        }

    def warning(self) -> str | None:
        n = len(self.disagreements)
        if not n:
            return None
        return (
            f"thuiszitters: school absence records and the leerplicht register disagree in {n} "
            "municipality-year(s) (a quality signal, see the health page)"
        )


def thuiszitter_agreement(conn: duckdb.DuckDBPyConnection) -> ThuiszitterAgreement | None:
    """The comparison as the last warehouse build left it; None before it exists."""
    schema, table = TABLE
    if not table_exists(conn, schema, table):
        return None
    years = conn.execute(
        f"select {', '.join(COLUMNS)} from {schema}.{table} order by municipality_code, school_year"
    ).df()
    return ThuiszitterAgreement(years)
