"""Pupil-administration exports, one enrolment file and one absence file per school and
school year, written the way the school's administration system exports them.

Past school years are delivered in August after the year ends; the running school year
is delivered a few days after the as-of date (an interim export). An enrolment export
lists every enrolment that overlaps the school year, with the exit date and destination
when the pupil left within it.

Planted row defects are added as *extra* rows (copies of real rows with one value
broken), so the clean rows alone make up the synthetic world and the ground truth;
every planted row is listed with its row number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.school_types import school_types, special_codes
from pilotmonitor.synth import identities
from pilotmonitor.synth.calendar import school_year_of
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.dialects import DIALECTS, Dialect
from pilotmonitor.synth.scenario import Scenario

ENROLMENT_COLUMNS = [
    # canonical, capitalised header, snake_case header
    ("brin", "BRIN", "brin"),
    ("vestiging", "Vestiging", "vestiging"),
    ("bsn", "BSN", "bsn"),
    ("onderwijsnummer", "Onderwijsnummer", "onderwijsnummer"),
    ("surname", "Achternaam", "achternaam"),
    ("surname_prefix", "Tussenvoegsel", "tussenvoegsel"),
    ("given_name", "Roepnaam", "roepnaam"),
    ("sex", "Geslacht", "geslacht"),
    ("birth_date", "Geboortedatum", "geboortedatum"),
    ("street", "Straat", "straat"),
    ("house_number", "Huisnummer", "huisnummer"),
    ("postcode", "Postcode", "postcode"),
    ("city", "Woonplaats", "woonplaats"),
    ("group", "Groep", "groep"),
    ("enrol_start", "Datum inschrijving", "datum_inschrijving"),
    ("enrol_end", "Datum uitschrijving", "datum_uitschrijving"),
    ("destination", "Uitstroombestemming", "uitstroombestemming"),
    ("enrolment_kind", "Soort inschrijving", "soort_inschrijving"),
]
ABSENCE_COLUMNS = [
    ("bsn", "BSN", "bsn"),
    ("onderwijsnummer", "Onderwijsnummer", "onderwijsnummer"),
    ("date", "Datum", "datum"),
    ("hours", "Uren", "uren"),
    ("kind", "Soort verzuim", "soort_verzuim"),
    ("reason", "Reden", "reden"),
    ("comment", "Opmerking", "opmerking"),
]
DATE_COLUMNS = {"birth_date", "enrol_start", "enrol_end", "date"}
COMMENTS = [
    "Moeder {parent} belde af",
    "Vader ({parent}) meldt ziekte",
    "Tandarts",
    "Gesprek met ouders gepland",
    "Niet afgemeld, ouders gebeld",
]
COMMENT_SHARE = 0.03
# Schools that change pupil-administration system once over the years: from then on
# their exports come in another dialect (other headers, dates, encoding, file type).
VENDOR_SWITCH_SHARE = 0.25
DIALECT_SHARES = [0.45, 0.35, 0.20]  # of the export dialects (DIALECTS order) among schools
# Pupils of special schools (SO, SBO) who also attend a regular school for a while (a
# symbiose arrangement): a secondary enrolment (neveninschrijving) in that school's
# exports. Their pupil-months, absence and exits stay with the main school.
SYMBIOSE_SHARE = 0.03
SPECIAL_TYPES = special_codes()
MAIN, SECONDARY = "Hoofdinschrijving", "Neveninschrijving"


def _symbiose_enrolments(
    pupils: pd.DataFrame, schools: pd.DataFrame, as_of: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """Secondary enrolments: pupil rows hosted by a regular school of the same sector (primary
    or secondary) and, where there is one, the same municipality (school_index), for four to
    ten months inside the pupil's main enrolment."""
    types = school_types()
    sector = schools.type.map(lambda code: types[code].sector)
    regular = schools[~schools.type.isin(SPECIAL_TYPES)].assign(sector=sector)
    special = schools.school_index[schools.type.isin(SPECIAL_TYPES)]
    candidates = pupils[pupils.school_index.isin(special)]
    chosen = candidates[rng.random(len(candidates)) < SYMBIOSE_SHARE].copy()
    by_index = schools.set_index("school_index").assign(sector=sector.to_numpy())
    hosts = []
    for i in chosen.school_index:
        same_sector = regular[regular.sector.eq(by_index.sector[i])]
        hosts.append(
            same_sector.school_index[same_sector.municipality.eq(by_index.municipality[i])].tolist()
            or same_sector.school_index.tolist()
        )
    keep = np.array([bool(h) for h in hosts], dtype=bool)
    chosen, hosts = chosen[keep], [h for h in hosts if h]
    chosen["school_index"] = [h[int(rng.integers(0, len(h)))] for h in hosts]
    start = chosen.enrol_start + pd.to_timedelta(rng.integers(20, 120, len(chosen)), unit="D")
    end = start + pd.to_timedelta(rng.integers(120, 300, len(chosen)), unit="D")
    main_end = chosen.enrol_end.fillna(as_of) - pd.Timedelta(days=1)
    end = end.where(end < main_end, main_end)
    chosen["enrol_start"], chosen["enrol_end"], chosen["destination"] = (
        start,
        end.where(end < as_of),
        None,
    )
    return chosen[(start < end.clip(upper=as_of)).to_numpy()].assign(enrolment_kind=SECONDARY)


@dataclass
class ExportFile:
    """One export before writing: canonical rows plus its delivery attributes."""

    school_id: str
    source: str  # school_enrolments or school_absence
    school_year: int  # first calendar year of the school year
    delivered_on: pd.Timestamp
    dialect: Dialect
    rows: pd.DataFrame  # canonical columns, with a "planted" column (None or defect kind)

    @property
    def period(self) -> str:
        return f"{self.school_year}-{self.school_year + 1}"

    def file_name(self, suffix: str = "") -> str:
        kind = "inschrijvingen" if self.source == "school_enrolments" else "verzuim"
        return (
            f"{self.school_id}_{kind}_{self.period}_"
            f"{self.delivered_on:%Y%m%d}{suffix}.{self.dialect.extension}"
        )

    def relative_dir(self) -> Path:
        return Path("schools") / self.school_id


def _school_years(first_month: pd.Timestamp, as_of: pd.Timestamp) -> list[int]:
    first = first_month.year if first_month.month >= 8 else first_month.year - 1
    last = as_of.year if as_of.month >= 8 else as_of.year - 1
    return list(range(first, last + 1))


def _delivery_date(year: int, as_of: pd.Timestamp, rng: np.random.Generator) -> pd.Timestamp:
    year_end = pd.Timestamp(f"{year + 1}-07-31")
    if year_end <= as_of:
        return pd.Timestamp(f"{year + 1}-08-{rng.integers(10, 26):02d}")
    return as_of + pd.Timedelta(days=int(rng.integers(3, 7)))


# Class labels: primary groups 1-8 (SO: "SO-5"); secondary school years (leerjaar) 1-6 with
# the form's prefix as the administration systems show it.
GROUP_PREFIX = {"SO": "SO-", "PRO": "PrO-", "VSO": "VSO-"}


def _groups(birth_date: pd.Series, year: np.ndarray, school_type: np.ndarray) -> np.ndarray:
    """Each row's class label in its school year, by its school's type."""
    age = year - birth_date.dt.year.to_numpy() - (birth_date.dt.month.to_numpy() > 9)
    labels = np.empty(len(age), dtype=object)
    for code in np.unique(school_type):
        rows = school_type == code
        if school_types()[code].sector == "VO":
            # VSO keeps pupils to 20: their year goes on past the sixth (a capped year made a
            # small school's export identical from one school year to the next)
            group = np.clip(age[rows] - 11, 1, 9 if code == "VSO" else 6)
        else:
            group = np.clip(age[rows] - 3, 1, 8)
        labels[rows] = np.char.add(GROUP_PREFIX.get(code, ""), group.astype(str))
    return labels


def _slices(keys: list[np.ndarray]) -> dict[tuple, slice]:
    """Where each run of equal keys (over sorted rows) starts and ends."""
    n = len(keys[0])
    change = np.flatnonzero(np.any([k[1:] != k[:-1] for k in keys], axis=0)) + 1 if n else []
    starts, ends = np.r_[0, change].astype(int), np.r_[change, n].astype(int)
    return {
        tuple(int(k[start]) for k in keys): slice(int(start), int(end))
        for start, end in zip(starts, ends)
        if end > start
    }


def _enrolments_by_school_year(
    pupils: pd.DataFrame, schools: pd.DataFrame, years: list[int], as_of: pd.Timestamp
):
    """A function giving one school's export rows of one school year: the pupils enrolled
    on a day of it (August to July, up to ``as_of``) ordered by enrolment date and pupil.
    Every school year's rows are made at once and sorted once (a stable sort, so ties keep
    the frame's order as a sort per file did); a frame per file cost most of the exports'
    time."""
    start, end = pupils.enrol_start, pupils.enrol_end
    first = school_year_of(start).to_numpy()
    last = school_year_of(end).fillna(years[-1]).to_numpy(dtype=np.int64)
    first = np.maximum(first, years[0])
    last = np.minimum(last, years[-1])
    # enrolled after as_of: in no export (as_of ends the last school year early); nor at a
    # school that sends none
    exported = (start <= as_of).to_numpy() & pupils.school_index.isin(
        schools.school_index
    ).to_numpy()
    counts = np.where(exported, np.maximum(last - first + 1, 0), 0)
    row = np.repeat(np.arange(len(pupils)), counts)
    year = first[row] + (np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts))
    enrolled = pupils.iloc[row].reset_index(drop=True)
    year_end = np.minimum(
        pd.to_datetime([f"{y + 1}-07-31" for y in years]).to_numpy()[year - years[0]],
        as_of.to_datetime64(),
    )
    left_in_year = (enrolled.enrol_end.notna() & (enrolled.enrol_end <= year_end)).to_numpy()
    by_school = schools.set_index("school_index")
    school_type = by_school.type.reindex(enrolled.school_index).to_numpy()
    postcode = np.array([f"{p[:4]} {p[4:]}" for p in pupils.postcode], dtype=object)
    rows = pd.DataFrame(
        {
            "brin": by_school.brin.reindex(enrolled.school_index).to_numpy(),
            "vestiging": by_school.vestiging.reindex(enrolled.school_index).to_numpy(),
            "bsn": enrolled.bsn.fillna("").to_numpy(),
            "onderwijsnummer": enrolled.onderwijsnummer.fillna("").to_numpy(),
            "surname": enrolled.surname.to_numpy(),
            "surname_prefix": enrolled.surname_prefix.to_numpy(),
            "given_name": enrolled.given_name.to_numpy(),
            "sex": enrolled.sex.to_numpy(),
            "birth_date": enrolled.birth_date.to_numpy(),
            "street": enrolled.street.to_numpy(),
            "house_number": enrolled.house_number.to_numpy(),
            "postcode": postcode[row],
            "city": enrolled.city.to_numpy(),
            "group": _groups(enrolled.birth_date, year, school_type),
            "enrol_start": enrolled.enrol_start.to_numpy(),
            "enrol_end": enrolled.enrol_end.where(left_in_year).to_numpy(),
            "destination": enrolled.destination.where(left_in_year).fillna("").to_numpy(),
            "enrolment_kind": enrolled.enrolment_kind.to_numpy(),
            "pupil_id": enrolled.pupil_id.to_numpy(),
            "planted": None,
            "_school_index": enrolled.school_index.to_numpy(),
            "_school_year": year,
        }
    ).sort_values(["_school_index", "_school_year", "enrol_start", "pupil_id"])
    bounds = _slices([rows._school_index.to_numpy(), rows._school_year.to_numpy()])
    rows = rows.drop(columns=["_school_index", "_school_year"])
    return lambda school_index, year: rows.iloc[
        bounds.get((int(school_index), year), slice(0, 0))
    ].reset_index(drop=True)


ABSENCE_EXPORT_COLUMNS = [
    "bsn",
    "onderwijsnummer",
    "date",
    "hours",
    "kind",
    "reason",
    "comment",
    "pupil_id",
]


def _absence_by_school_year(absence: pd.DataFrame, as_of: pd.Timestamp):
    """A function giving one school's absence rows of one school year (August to July, up
    to ``as_of``) ordered by date, pupil and kind: the whole frame sorted once (a stable
    sort, so ties keep the frame's order as a sort per file did)."""
    dates = absence.date
    school_year = school_year_of(dates).to_numpy()
    kept = (dates <= as_of).to_numpy()
    ordered = (
        absence[kept]
        .assign(_school_year=school_year[kept])
        .sort_values(["school_index", "_school_year", "date", "pupil_id", "kind"])
    )
    bounds = _slices([ordered.school_index.to_numpy(), ordered._school_year.to_numpy()])
    ordered = ordered[ABSENCE_EXPORT_COLUMNS].fillna({"bsn": "", "onderwijsnummer": ""})
    return lambda school_index, year: ordered.iloc[
        bounds.get((int(school_index), year), slice(0, 0))
    ]


def build_exports(
    pupils: pd.DataFrame,
    absence: pd.DataFrame,
    schools: pd.DataFrame,
    scenario: Scenario,
    first_month: pd.Timestamp,
    rng: np.random.Generator,
    switches: np.random.Generator,
) -> list[ExportFile]:
    """Every school's exports; ``switches``, a stream of its own, draws the pupils also
    enrolled at a second school (the other draws stay as they were without them)."""
    as_of = pd.Timestamp(scenario.as_of)
    files: list[ExportFile] = []
    absence = absence.merge(
        pupils[["pupil_id", "bsn", "onderwijsnummer", "parent_given_name"]], on="pupil_id"
    )
    has_comment = rng.random(len(absence)) < COMMENT_SHARE
    templates = np.array(COMMENTS)[rng.integers(0, len(COMMENTS), len(absence))]
    absence["comment"] = [
        t.format(parent=p) if c else ""
        for t, p, c in zip(templates, absence.parent_given_name, has_comment)
    ]
    absence["kind"] = absence.kind.str.capitalize()
    pupils = pd.concat(
        [
            pupils.assign(enrolment_kind=MAIN),
            _symbiose_enrolments(pupils, schools, as_of, switches),
        ],
        ignore_index=True,
    )
    years = _school_years(first_month, as_of)
    # every school year's rows made and sorted once (a mask per school scanned every row
    # once per school, and a frame per school year cost more than its rows)
    enrolments_of = _enrolments_by_school_year(pupils, schools, years, as_of)
    absence_of = _absence_by_school_year(absence, as_of)
    for school in schools.itertuples(index=False):
        dialect_name = DIALECTS[rng.choice(3, p=DIALECT_SHARES)]
        dialect = Dialect(dialect_name, bom=bool(rng.random() < 0.5))
        switch_year = (
            years[int(switches.integers(1, len(years)))]
            if len(years) > 1 and switches.random() < VENDOR_SWITCH_SHARE
            else None
        )
        for year in years:
            if year == switch_year:  # to another system, in proportion to the systems' shares
                weights = np.array(
                    [
                        0.0 if name == dialect.name else share
                        for name, share in zip(DIALECTS, DIALECT_SHARES)
                    ]
                )
                dialect = Dialect(
                    DIALECTS[int(switches.choice(len(DIALECTS), p=weights / weights.sum()))],
                    bom=bool(switches.random() < 0.5),
                )
            delivered = _delivery_date(year, as_of, rng)
            rows = enrolments_of(school.school_index, year)
            files.append(
                ExportFile(
                    school.school_id,
                    "school_enrolments",
                    year,
                    delivered,
                    dialect,
                    rows,
                )
            )
            absence_rows = absence_of(school.school_index, year)
            absence_rows = absence_rows.assign(planted=None).reset_index(drop=True)
            files.append(
                ExportFile(
                    school.school_id, "school_absence", year, delivered, dialect, absence_rows
                )
            )
    return files


# --- planted row defects -------------------------------------------------------------


@dataclass
class _Copy:
    """A planted copy of one row of a file (by position), with the values it changes."""

    row: int
    kind: str
    values: dict[str, object]


class _Insertions:
    """Planted rows inserted at random positions, each after a random row of the file as it
    stands at that moment. The random draws are made as the rows are planted, but every
    file is rebuilt once at the end, its planted copies taken out in one go: rebuilding it
    per planted row made planting quadratic in the size of a region, and a frame per copy
    cost about a millisecond each (most of planting's time at the demo's 4,000 copies)."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[ExportFile, list[int], list[_Copy]]] = {}
        self._eligible: dict[int, np.ndarray] = {}

    def sources(self, file: ExportFile) -> np.ndarray:
        """Positions of the rows a planted copy may come from: unplanted rows with a BSN
        (planted rows never qualify, so the file's own insertions do not change this list
        or its order)."""
        if id(file) not in self._eligible:
            eligible = file.rows.planted.isna() & (file.rows.bsn != "")
            self._eligible[id(file)] = np.flatnonzero(eligible.to_numpy())
        return self._eligible[id(file)]

    def add(self, file: ExportFile, copies: list[_Copy], rng: np.random.Generator) -> None:
        _, positions, extras = self._pending.setdefault(id(file), (file, [], []))
        current = len(file.rows) + len(positions)
        for row in rng.integers(0, max(current, 1), size=len(copies)).tolist():
            positions.append(row)
        extras.extend(copies)

    def apply(self) -> None:
        for file, positions, extras in self._pending.values():
            order = list(range(len(file.rows)))
            for k, position in enumerate(positions):
                order.insert(position + 1, len(file.rows) + k)  # just after the drawn row
            file.rows = (
                pd.concat([file.rows, _copied_rows(file.rows, extras)], ignore_index=True)
                .iloc[order]
                .reset_index(drop=True)
            )
        self._pending.clear()


def _copied_rows(rows: pd.DataFrame, copies: list[_Copy]) -> pd.DataFrame:
    """The copies as rows: the source rows marked planted (pupil_id -1), values changed."""
    out = rows.iloc[[copy.row for copy in copies]].reset_index(drop=True)
    out["planted"] = [copy.kind for copy in copies]
    out["pupil_id"] = -1
    for column in dict.fromkeys(name for copy in copies for name in copy.values):
        values = out[column].astype(object).to_numpy(copy=True)
        for i, copy in enumerate(copies):
            if column in copy.values:
                values[i] = copy.values[column]
        out[column] = values
    return out


def _insert_rows(file: ExportFile, copies: list[_Copy], rng: np.random.Generator) -> None:
    """Insert planted copies of the file's rows at random positions (after a random row)."""
    insertions = _Insertions()
    insertions.add(file, copies, rng)
    insertions.apply()


def _impossible_date(dialect: Dialect, year: int, rng: np.random.Generator) -> str:
    day, month = [(31, 4), (30, 2), (31, 6), (31, 9), (31, 11)][rng.integers(0, 5)]
    calendar_year = year + 1 if month < 8 else year
    if dialect.name == "comma_utf8":
        return f"{calendar_year}-{month:02d}-{day:02d}"
    return f"{day:02d}-{month:02d}-{calendar_year}"


def _planted_count(rate: float, total: int) -> int:
    """At least one planted record when a defect is switched on, none when it is off."""
    return max(1, round(rate * total)) if rate > 0 and total > 0 else 0


def plant_row_defects(
    files: list[ExportFile], scenario: Scenario, rng: np.random.Generator
) -> None:
    """Add the planted bad rows to absence (and a few enrolment) exports."""
    spec = scenario.defects
    # Planted rows are copies of rows with a BSN, so only files holding one qualify.
    absence_files = [f for f in files if f.source == "school_absence" and (f.rows.bsn != "").any()]
    csv_absence = [f for f in absence_files if f.dialect.extension == "csv"]
    total = sum(len(f.rows) for f in absence_files)

    insertions = _Insertions()

    def pick(pool: list[ExportFile]) -> ExportFile:
        return pool[rng.integers(0, len(pool))]

    def copy(file: ExportFile, kind: str, **values: object) -> list[_Copy]:
        eligible = insertions.sources(file)
        row = int(eligible[rng.integers(0, len(eligible), size=1)[0]])
        return [_Copy(row, kind, values)]

    def invalid_bsn(file: ExportFile) -> list[_Copy]:
        (planted,) = copy(file, "invalid_bsn")
        number = np.array([int(file.rows.bsn.iat[planted.row])], dtype=np.int64)
        planted.values["bsn"] = str(
            identities.format_number(identities.corrupt_check_digit(number, rng))[0]
        )
        return [planted]

    for _ in range(_planted_count(spec.invalid_bsn_rate, total) if absence_files else 0):
        file = pick(absence_files)
        insertions.add(file, invalid_bsn(file), rng)
    for i in range(spec.reserved_bsn_count if absence_files else 0):
        file = pick(absence_files)
        reserved = "000000000" if i % 2 == 0 else "999999999"
        insertions.add(file, copy(file, "reserved_bsn", bsn=reserved), rng)
    for _ in range(_planted_count(spec.duplicate_row_rate, total) if absence_files else 0):
        file = pick(absence_files)
        insertions.add(file, copy(file, "duplicate_row"), rng)
    for _ in range(spec.impossible_date_count if csv_absence else 0):
        file = pick(csv_absence)
        (planted,) = copy(file, "impossible_date")
        planted.values["date"] = _impossible_date(file.dialect, file.school_year, rng)
        insertions.add(file, [planted], rng)
    for i in range(spec.missing_field_count if absence_files else 0):
        file = pick(absence_files)
        if i % 2 == 0:
            planted = copy(file, "missing_field", bsn="", onderwijsnummer="")
        else:
            planted = copy(file, "missing_field", date="")
        insertions.add(file, planted, rng)
    # Two enrolment rows with a BSN failing the 11-check.
    enrolment_files = [
        f for f in files if f.source == "school_enrolments" and (f.rows.bsn != "").any()
    ]
    for _ in range(2 if spec.invalid_bsn_rate > 0 and enrolment_files else 0):
        file = pick(enrolment_files)
        insertions.add(file, invalid_bsn(file), rng)
    insertions.apply()


# --- writing -------------------------------------------------------------------------


def render(file: ExportFile) -> pd.DataFrame:
    """The export as the sender's system writes it: dialect headers and formats."""
    columns = ENROLMENT_COLUMNS if file.source == "school_enrolments" else ABSENCE_COLUMNS
    out = {}
    for canonical, capitalised, snake in columns:
        values = file.rows[canonical]
        if canonical in DATE_COLUMNS:
            values = file.dialect.format_dates(values)
        elif canonical == "hours":
            values = file.dialect.format_decimals(values)
        out[file.dialect.header(capitalised, snake)] = values.to_numpy()
    frame = pd.DataFrame(out)
    if file.dialect.name == "comma_utf8":
        # Another system, another column order.
        frame = frame[sorted(frame.columns, key=lambda c: (c not in {"bsn", "onderwijsnummer"}, c))]
    return frame


def write_logged_export(file: ExportFile, landing_dir: Path) -> DeliveryLog:
    """Write an export; its own delivery log (what a writing process hands back)."""
    log = DeliveryLog(landing_dir)
    write_export(file, landing_dir, log)
    return log


def write_export(file: ExportFile, landing_dir: Path, log: DeliveryLog, suffix: str = "") -> Path:
    path = landing_dir / file.relative_dir() / file.file_name(suffix)
    file.dialect.write(render(file), path)
    log.add_file(
        path,
        source=file.source,
        sender=file.school_id,
        period=file.period,
        delivered_on=f"{file.delivered_on:%Y-%m-%d}",
        file_format=file.dialect.extension,
        encoding=file.dialect.encoding,
        rows=len(file.rows),
    )
    planted = file.rows.planted.dropna()
    for kind, rows in planted.groupby(planted):
        locator = ",".join(str(i + 1) for i in rows.index)
        log.add_defect(kind, path, f"rows {locator}", len(rows), "quarantine")
    return path
