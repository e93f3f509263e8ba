"""The municipal leerplicht/RMC register export, written from the simulated world.

Per municipality and school year a semicolon-separated Windows-1252 export with one row
per registration (Verzuimmelding, Vrijstelling, Thuiszitter, VSV). Names, address and a
free-text remark are in the file, as in real exports; a few bad rows are planted. The
register uses its own random stream.

Design notes: docs/design/synth.md#pilotmonitorsynthleerplichtpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.synth import identities
from pilotmonitor.synth.calendar import school_year_of
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.dialects import Dialect

DIALECT = Dialect("semicolon_cp1252")
RELATIVE_HOURS = (
    16  # unauthorised hours that oblige a school to notify (per 4 weeks; here per month)
)
LATE_ARRIVALS = 3
REGISTER_SHARE = 0.85  # share of thuiszitter spells the register knows
EXEMPTION_SHARE = (
    0.25  # of pupils leaving without a new school: exemption 5 onder a instead of absoluut verzuim
)
THUISZITTER_CAUSES = (
    np.array(
        [
            "Geen passend onderwijsaanbod",
            "Psychische problematiek",
            "Gedragsproblematiek",
            "Ziekte",
            "Onbekend",
        ]
    ),
    np.array([0.35, 0.25, 0.2, 0.1, 0.1]),
)
RELATIVE_OUTCOMES = (
    np.array(["Waarschuwing", "Gesprek", "Halt", "Proces-verbaal", "Gesloten zonder maatregel"]),
    np.array([0.3, 0.3, 0.15, 0.1, 0.15]),
)
LUXURY_OUTCOMES = (np.array(["Waarschuwing", "Proces-verbaal"]), np.array([0.5, 0.5]))
VSV_OUTCOMES = (
    np.array(["Teruggeleid naar school", "Werk", "Traject RMC", "Geen contact"]),
    np.array([0.3, 0.2, 0.35, 0.15]),
)
COLUMNS = [
    "BSN",
    "Onderwijsnummer",
    "Achternaam",
    "Voorvoegsel",
    "Voornamen",
    "Geboortedatum",
    "Geslacht",
    "Straat",
    "Huisnummer",
    "Postcode",
    "Woonplaats",
    "Gemeentecode",
    "BRIN",
    "Vestiging",
    "Registratie",
    "Soort",
    "Datum melding",
    "Begindatum",
    "Einddatum",
    "Afdoening",
    "Reden",
    "Opmerking",
]
TRUTH_FILE = "leerplicht_thuiszitters.csv"
# the population's column naming a spell's early exit, and its VSV value
EARLY_EXIT, VSV = ("early_exit", "vsv")


def early_school_leavers(pupils: pd.DataFrame) -> pd.DataFrame:
    """Pupils whose spell ended in early school leaving (``early_exit`` "vsv"), with the
    leaving date as ``leave_date`` (their enrolment end); none when the population has no
    early exits."""
    if EARLY_EXIT not in pupils.columns:
        return pupils.iloc[0:0].assign(leave_date=pd.Series(dtype="datetime64[ns]"))
    flagged = pupils[pupils[EARLY_EXIT].eq(VSV).to_numpy() & pupils.enrol_end.notna().to_numpy()]
    return flagged.assign(leave_date=flagged.enrol_end)


def _month(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("M").dt.to_timestamp()


def _absence_notifications(absence: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Relatief verzuim, signaalverzuim and luxeverzuim from the school absence records."""
    unauthorised = absence[absence.kind == "ongeoorloofd"].sort_values(["pupil_id", "date"])
    unauthorised = unauthorised.assign(month=_month(unauthorised.date))
    cumulative = unauthorised.groupby(["pupil_id", "month"]).hours.cumsum()
    crossing = unauthorised[
        (cumulative >= RELATIVE_HOURS) & (cumulative - unauthorised.hours < RELATIVE_HOURS)
    ]
    relative = pd.DataFrame(
        {
            "pupil_id": crossing.pupil_id.to_numpy(),
            "date": crossing.date.to_numpy(),
            "kind": "Relatief verzuim",
        }
    )
    relative["outcome"] = rng.choice(
        RELATIVE_OUTCOMES[0], size=len(relative), p=RELATIVE_OUTCOMES[1]
    )

    late = unauthorised[unauthorised.reason == "Te laat"]
    late_counts = late.groupby(["pupil_id", "month"]).date.agg(["size", "max"]).reset_index()
    signal = late_counts[late_counts["size"] >= LATE_ARRIVALS]
    signal = pd.DataFrame(
        {
            "pupil_id": signal.pupil_id.to_numpy(),
            "date": signal["max"].to_numpy(),
            "kind": "Signaalverzuim",
            "outcome": "Gesprek",
        }
    )

    full_days = unauthorised[
        (unauthorised.hours >= 5) & (unauthorised.reason != "Langdurig verzuim")
    ]
    before_summer = full_days[(full_days.date.dt.month == 7) & (full_days.date.dt.day <= 21)]
    before_summer = before_summer.drop_duplicates(["pupil_id", "month"])
    before_summer = before_summer[rng.random(len(before_summer)) < 0.5]
    luxury = pd.DataFrame(
        {
            "pupil_id": before_summer.pupil_id.to_numpy(),
            "date": before_summer.date.to_numpy(),
            "kind": "Luxeverzuim",
        }
    )
    luxury["outcome"] = rng.choice(LUXURY_OUTCOMES[0], size=len(luxury), p=LUXURY_OUTCOMES[1])
    rows = pd.concat([relative, signal, luxury], ignore_index=True)
    return rows.assign(registration="Verzuimmelding", start=pd.NaT, end=pd.NaT, reason="")


def _leavers_without_school(
    pupils: pd.DataFrame, dropout_destination: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Absoluut verzuim or an exemption 5 onder a for pupils who left without a new school."""
    left = pupils[(pupils.destination == dropout_destination) & pupils.enrol_end.notna()]
    days = pd.to_timedelta(rng.integers(5, 40, size=len(left)), unit="D")
    exempt = rng.random(len(left)) < EXEMPTION_SHARE
    date = (left.enrol_end + days).to_numpy()
    return pd.DataFrame(
        {
            "pupil_id": left.pupil_id.to_numpy(),
            "registration": np.where(exempt, "Vrijstelling", "Verzuimmelding"),
            "kind": np.where(exempt, "5 onder a", "Absoluut verzuim"),
            "date": date,
            "start": np.where(exempt, date, np.datetime64("NaT")),
            "end": pd.NaT,
            "outcome": np.where(exempt, "", "Ingeschreven bij andere school"),
            "reason": "",
            "no_school": True,
        }
    )


def _thuiszitters(
    spells: pd.DataFrame, as_of: pd.Timestamp, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Registered thuiszitters (a share of the spells, registered late) and the truth per spell."""
    registered = rng.random(len(spells)) < REGISTER_SHARE
    # The register learns of a spell after four weeks of absence, a few days late; its
    # start date is the first day of absence the school reports.
    report = (
        spells.start_date
        + pd.Timedelta(days=28)
        + pd.to_timedelta(rng.integers(0, 10, size=len(spells)), unit="D")
    )
    ended = spells.end_date <= as_of - pd.Timedelta(days=7)
    chosen = spells[registered]
    rows = pd.DataFrame(
        {
            "pupil_id": chosen.pupil_id.to_numpy(),
            "registration": "Thuiszitter",
            "kind": "Langdurig relatief verzuim",
            "date": report[registered].to_numpy(),
            "start": chosen.start_date.to_numpy(),
            "end": chosen.end_date.where(ended[registered]).to_numpy(),
            "outcome": "",
            "reason": rng.choice(THUISZITTER_CAUSES[0], size=len(chosen), p=THUISZITTER_CAUSES[1]),
        }
    )
    truth = pd.DataFrame(
        {
            "pupil_id": spells.pupil_id.to_numpy(),
            "start_date": spells.start_date.to_numpy(),
            "end_date": spells.end_date.to_numpy(),
            "registered": registered,
        }
    )
    return rows, truth


def _early_leavers(pupils: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    leavers = early_school_leavers(pupils)
    return pd.DataFrame(
        {
            "pupil_id": leavers.pupil_id.to_numpy(),
            "registration": "VSV",
            "kind": "Zonder startkwalificatie",
            "date": (
                leavers.leave_date
                + pd.to_timedelta(rng.integers(1, 30, size=len(leavers)), unit="D")
            ).to_numpy(),
            "start": leavers.leave_date.to_numpy(),
            "end": pd.NaT,
            "outcome": rng.choice(VSV_OUTCOMES[0], size=len(leavers), p=VSV_OUTCOMES[1]),
            "reason": "",
        }
    )


def build_register(
    pupils: pd.DataFrame,
    schools: pd.DataFrame,
    absence: pd.DataFrame,
    spells: pd.DataFrame,
    as_of: pd.Timestamp,
    dropout_destination: str,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All registrations (pupil_id, registration, kind, date, start, end, outcome, reason,
    plus municipality, school and identity columns) and the thuiszitter truth per spell."""
    thuis, truth = _thuiszitters(spells, as_of, rng)
    # An early school leaver is the RMC's (a VSV registration), not an absoluut verzuim case.
    vsv = pupils.pupil_id.isin(early_school_leavers(pupils).pupil_id)
    parts = [
        _absence_notifications(absence, rng),
        _leavers_without_school(pupils[~vsv], dropout_destination, rng),
        thuis,
        _early_leavers(pupils, rng),
    ]
    parts = [
        p.assign(no_school=p["no_school"] if "no_school" in p else False) for p in parts if len(p)
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows.date <= as_of].reset_index(drop=True)
    person = pupils.set_index("pupil_id").loc[rows.pupil_id]
    school = schools.set_index("school_index").loc[person.school_index.to_numpy()]
    rows["municipality"] = person.residence_municipality.to_numpy()
    rows["brin"] = np.where(rows.no_school, "", school.brin.to_numpy())
    rows["vestiging"] = np.where(rows.no_school, "", school.vestiging.to_numpy())
    for column in [
        "bsn",
        "onderwijsnummer",
        "surname",
        "surname_prefix",
        "given_name",
        "birth_date",
        "sex",
        "street",
        "house_number",
        "postcode",
        "city",
    ]:
        rows[column] = person[column].to_numpy()
    truth.insert(
        0,
        "school_id",
        schools.set_index("school_index").school_id.to_numpy()[
            pupils.set_index("pupil_id").loc[truth.pupil_id].school_index.to_numpy()
        ],
    )
    truth = truth.drop(columns="pupil_id")  # internal to a region; the truth carries no pupil key
    return rows.sort_values(
        ["municipality", "date", "pupil_id", "registration"], kind="stable"
    ).reset_index(drop=True), truth


def _render(rows: pd.DataFrame) -> pd.DataFrame:
    def date(column: str) -> pd.Series:
        values = rows[column]
        # a planted impossible date
        planted = values.dtype == object and values.map(lambda v: isinstance(v, str)).any()
        return (
            values.map(DIALECT.format_date)
            if planted
            else DIALECT.format_dates(pd.to_datetime(values))
        )

    return pd.DataFrame(
        {
            "BSN": rows.bsn.fillna(""),
            "Onderwijsnummer": rows.onderwijsnummer.fillna(""),
            "Achternaam": rows.surname,
            "Voorvoegsel": rows.surname_prefix,
            "Voornamen": rows.given_name,
            "Geboortedatum": date("birth_date"),
            "Geslacht": rows.sex,
            "Straat": rows.street,
            "Huisnummer": rows.house_number,
            "Postcode": rows.postcode,
            "Woonplaats": rows.city,
            "Gemeentecode": rows.municipality.str.removeprefix("GM"),
            "BRIN": rows.brin,
            "Vestiging": rows.vestiging,
            "Registratie": rows.registration,
            "Soort": rows.kind,
            "Datum melding": date("date"),
            "Begindatum": date("start"),
            "Einddatum": date("end"),
            "Afdoening": rows.outcome,
            "Reden": rows.reason,
            "Opmerking": np.where(
                rows.registration == "Thuiszitter", "Overleg met ouders en school gepland", ""
            ),
        }
    )[COLUMNS]


def _plant_defects(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Extra bad rows (copies of valid rows with one fault each); column 'planted' names it."""
    with_bsn = rows[rows.bsn.notna()]
    if len(with_bsn) == 0:
        return rows.assign(planted=None)
    picks = with_bsn.iloc[rng.integers(0, len(with_bsn), size=5)].copy()
    picks["planted"] = [
        "invalid_bsn",
        "reserved_bsn",
        "impossible_date",
        "unknown_kind",
        "duplicate_row",
    ]
    picks.iloc[0, picks.columns.get_loc("bsn")] = identities.format_number(
        identities.corrupt_check_digit(np.array([int(picks.bsn.iloc[0])]), rng)
    )[0]
    picks.iloc[1, picks.columns.get_loc("bsn")] = "999999999"
    picks["date"] = picks["date"].astype(object)
    picks.iloc[2, picks.columns.get_loc("date")] = f"31-04-{pd.Timestamp(picks.date.iloc[2]).year}"
    picks.iloc[3, picks.columns.get_loc("kind")] = "Schoolverzuim onbekend"
    # object columns throughout: the planted values are text in typed columns
    out = rows.assign(planted=None).astype(object)
    at = np.sort(rng.integers(0, len(out) + 1, size=len(picks)))  # insertion points, in file order
    # each pick goes before the row at its insertion point, picks in their own order
    order = np.lexsort(
        (
            np.r_[np.zeros(len(out)), np.arange(len(picks))],
            np.r_[np.ones(len(out)), np.zeros(len(picks))],
            np.r_[np.arange(len(out)), at],
        )
    )
    both = pd.concat([out, picks.astype(object)[out.columns]], ignore_index=True)
    return both.iloc[order].reset_index(drop=True)


def write_register_exports(
    rows: pd.DataFrame,
    municipalities: list[str],
    first_month: pd.Timestamp,
    as_of: pd.Timestamp,
    landing: Path,
    log: DeliveryLog,
    rng: np.random.Generator,
    defects: bool = True,
) -> int:
    """One export per municipality and school year (a year without registrations is a
    header-only export, as a register system writes it): final exports by mid-September,
    the running year as an interim export a week after the as-of date. Bad rows go into
    the busiest file of the last complete year. Returns the rows written."""
    years = school_year_of(pd.to_datetime(rows.date))
    last_complete = as_of.year - (as_of.month < 8) - 1
    busiest = None
    complete = rows[(years <= last_complete).to_numpy()]
    if defects and len(complete):
        counts = complete.groupby(
            [complete.municipality, school_year_of(pd.to_datetime(complete.date))]
        ).size()
        busiest = counts[
            counts.index.get_level_values(1) == counts.index.get_level_values(1).max()
        ].idxmax()
    groups = {key: group for key, group in rows.groupby([rows.municipality, years], sort=True)}
    written = 0
    for municipality in sorted(municipalities):
        for year in range(
            first_month.year - (first_month.month < 8), as_of.year - (as_of.month < 8) + 1
        ):
            group = groups.get((municipality, year), rows.iloc[0:0]).reset_index(drop=True)
            group = (
                _plant_defects(group, rng)
                if (municipality, year) == busiest
                else group.assign(planted=None)
            )
            delivered = (
                pd.Timestamp(f"{year + 1}-09-{rng.integers(8, 20):02d}")
                if year <= last_complete and pd.Timestamp(f"{year + 1}-09-20") <= as_of
                else as_of + pd.Timedelta(days=7)
            )
            period = f"{year}-{year + 1}"
            path = (
                landing
                / "leerplicht"
                / municipality
                / f"{municipality}_leerplicht_{period}_{delivered:%Y%m%d}.csv"
            )
            DIALECT.write(_render(group), path)
            log.add_file(
                path,
                source="leerplicht_register",
                sender=municipality,
                period=period,
                delivered_on=f"{delivered:%Y-%m-%d}",
                file_format="csv",
                encoding=DIALECT.encoding,
                rows=len(group),
            )
            planted = group.planted.dropna()
            for kind, hit in planted.groupby(planted):
                log.add_defect(
                    kind,
                    path,
                    "rows " + ",".join(str(i + 1) for i in hit.index),
                    len(hit),
                    "quarantine",
                )
            written += len(group)
    return written
