"""The sources the pipeline ingests and how each is read; the raw tables each fills are
declared in the catalogue (raw_tables.yml).

One entry per source; the Dagster ingestion assets are generated from this list, so a
new source is one entry here, its tables in the catalogue and its reader.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotmonitor.ingest import column_policy
from pilotmonitor.ingest.contracts import ReadResult
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.raw_catalogue import catalogue


@dataclass(frozen=True)
class ReadContext:
    """What readers may need besides the file: the pseudonymiser and reference data."""

    pseudonymiser: Pseudonymiser | None
    ijw_schema_dir: Path | None
    known_product_codes: frozenset[str] | None


# Several deliveries at once: per delivery its parts, or the DeliveryError that refused it.
ReadMany = Callable[[Sequence[tuple[Path, Delivery]], ReadContext], list[Any]]


@dataclass(frozen=True)
class Source:
    name: str  # as recognised from the file name (deliveries.PATTERNS)
    read: Callable[[Path, Delivery, ReadContext], ReadResult]
    description: str
    depends_on: list[str] = field(default_factory=list)  # sources whose raw tables the reader uses
    # a reader of many small deliveries at once, with the same results as `read` of each
    read_many: ReadMany | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        """The raw tables its reader fills (the catalogue's `sources` of each table)."""
        return catalogue().tables_of_source(self.name)

    @property
    def identifies_people(self) -> bool:
        """Whether its tables hold pseudonymised values, so reading needs the key."""
        return any(
            column.klass in column_policy.PSEUDONYMISED
            for table in self.tables
            for column in catalogue().tables[table].columns
        )


def _school_enrolments(path: Path, delivery: Delivery, ctx: ReadContext) -> Iterator[ReadResult]:
    from pilotmonitor.ingest.readers.school_exports import iter_school_enrolments

    return iter_school_enrolments(path, delivery, ctx.pseudonymiser)


def _school_enrolments_many(items: Sequence[tuple[Path, Delivery]], ctx: ReadContext) -> list:
    from pilotmonitor.ingest.readers.school_exports import read_many_enrolments

    return read_many_enrolments(items, ctx.pseudonymiser)


def _school_absence_many(items: Sequence[tuple[Path, Delivery]], ctx: ReadContext) -> list:
    from pilotmonitor.ingest.readers.school_exports import read_many_absence

    return read_many_absence(items, ctx.pseudonymiser)


def _school_absence(path: Path, delivery: Delivery, ctx: ReadContext) -> Iterator[ReadResult]:
    from pilotmonitor.ingest.readers.school_exports import iter_school_absence

    return iter_school_absence(path, delivery, ctx.pseudonymiser)


def _leerplicht(path: Path, delivery: Delivery, ctx: ReadContext) -> Iterator[ReadResult]:
    from pilotmonitor.ingest.readers.leerplicht import iter_leerplicht_register

    return iter_leerplicht_register(path, delivery, ctx.pseudonymiser)


def _leerplicht_many(items: Sequence[tuple[Path, Delivery]], ctx: ReadContext) -> list:
    from pilotmonitor.ingest.readers.leerplicht import read_many_leerplicht_register

    return read_many_leerplicht_register(items, ctx.pseudonymiser)


def _ijw(path: Path, delivery: Delivery, ctx: ReadContext) -> Iterator[ReadResult]:
    from pilotmonitor.ingest.readers.ijw import iter_ijw_archive

    codes = set(ctx.known_product_codes) if ctx.known_product_codes is not None else None
    return iter_ijw_archive(path, delivery, ctx.pseudonymiser, ctx.ijw_schema_dir, codes)


def _ijw_extract(path: Path, delivery: Delivery, ctx: ReadContext) -> Iterator[ReadResult]:
    from pilotmonitor.ingest.readers.ijw_flat import iter_ijw_extract

    codes = set(ctx.known_product_codes) if ctx.known_product_codes is not None else None
    return iter_ijw_extract(path, delivery, ctx.pseudonymiser, codes)


def _public(function: str) -> Callable[[Path, Delivery, ReadContext], ReadResult]:
    def read(path: Path, delivery: Delivery, ctx: ReadContext) -> ReadResult:
        from pilotmonitor.ingest.readers import public_data

        return getattr(public_data, function)(path, delivery)

    return read


def _pilot(function: str) -> Callable[[Path, Delivery, ReadContext], ReadResult]:
    def read(path: Path, delivery: Delivery, ctx: ReadContext) -> ReadResult:
        from pilotmonitor.ingest.readers import pilot_side

        return getattr(pilot_side, function)(path, delivery)

    return read


def _surveys(path: Path, delivery: Delivery, ctx: ReadContext) -> ReadResult:
    from pilotmonitor.ingest.readers.surveys import read_survey_responses

    return read_survey_responses(path, delivery, ctx.pseudonymiser)


SOURCES: list[Source] = [
    Source("product_list", _public("read_product_list"), "the region's youth-care product list"),
    Source("duo_schools", _public("read_duo_schools"), "DUO school registry (sites)"),
    Source("duo_pupil_counts", _public("read_duo_pupil_counts"), "DUO pupils per site and age"),
    Source(
        "duo_vsv",
        _public("read_duo_vsv"),
        "DUO early school leavers (VSV) per site and per municipality and convenantjaar",
    ),
    Source(
        "cbs_youth_care", _public("read_cbs_youth_care"), "CBS StatLine youth care per municipality"
    ),
    Source(
        "school_enrolments",
        _school_enrolments,
        "school pupil-administration enrolments",
        read_many=_school_enrolments_many,
    ),
    Source(
        "school_absence", _school_absence, "school absence records", read_many=_school_absence_many
    ),
    Source(
        "leerplicht_register",
        _leerplicht,
        "municipal leerplicht/RMC register: absence notifications, exemptions, thuiszitters, "
        "early school leavers",
        read_many=_leerplicht_many,
    ),
    Source(
        "ijw_messages",
        _ijw,
        "iJw 3.2 messages JW315/301/305/307/323 per municipality and month",
        depends_on=["product_list"],
    ),
    Source(
        "ijw_extracts",
        _ijw_extract,
        "municipal flat CSV extracts with the iJw fields (JW315/301/305/307/323 rows) per "
        "municipality and month",
        depends_on=["product_list"],
    ),
    Source("pilot_activity", _pilot("read_pilot_activity"), "youth support workers' activity log"),
    Source("pilot_costs", _pilot("read_pilot_costs"), "pilot costs"),
    Source("survey_responses", _surveys, "questionnaires of parents, teachers and pupils"),
]
SOURCES_BY_NAME = {source.name: source for source in SOURCES}


def read_delivery(source: str, ctx: ReadContext, path: Path, delivery: Delivery) -> ReadResult:
    """The source's reader as a module-level function: picklable (with functools.partial)
    for reading in worker processes."""
    return SOURCES_BY_NAME[source].read(path, delivery, ctx)


@dataclass(frozen=True)
class SourceReader:
    """The source's reader bound to its context, as the loader takes it: called with one
    delivery; ``read_many`` (None where the source has no such reader) reads several.
    Picklable, for reading in worker processes."""

    source: str
    ctx: ReadContext

    def __call__(self, path: Path, delivery: Delivery) -> ReadResult:
        return read_delivery(self.source, self.ctx, path, delivery)

    @property
    def read_many(self) -> Callable[[Sequence[tuple[Path, Delivery]]], list[Any]] | None:
        many = SOURCES_BY_NAME[self.source].read_many
        return None if many is None else functools.partial(many, ctx=self.ctx)


def known_product_codes(conn) -> frozenset[str] | None:
    """The product codes of the current product list (the iJw readers quarantine others);
    None before a product list is loaded."""
    rows = conn.execute(
        """
        select distinct p.product_code
        from raw.product_list p join raw.deliveries d on d.delivery_id = p.delivery_id and d.status = 'loaded'
        where d.is_current
        """  # noqa: E501
    ).fetchall()
    return frozenset(r[0] for r in rows) if rows else None
