"""Read a municipal flat CSV extract carrying the fields of the iJw messages.

Some municipalities deliver a flat extract from their case system instead of iJw 3.2 XML
messages (``ijw/GM<code>/GM<code>_jeugdhulp_extract_<YYYY-MM>_<YYYYMMDD>.csv``). Column
``berichttype`` picks the raw table; types, values and pseudonyms are as in the XML reader.
Entry points: ``iter_ijw_extract`` (parts) and ``read_ijw_extract``.

Design notes: docs/design/ingest.md#pilotmonitoringestreadersijw_flatpy.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pilotmonitor.ingest import column_policy
from pilotmonitor.ingest.contracts import (
    RAW_TABLES,
    ReadResult,
    Rows,
    combine_parts,
    empty_quarantine,
    quarantine_rows,
)
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.readers.ijw import (
    MESSAGE_TYPES,
    SOURCE_TABLE,
    _parse_date,
    _parse_integer,
    _Row,
    safe_detail,
)
from pilotmonitor.ingest.readers.tabular import CHUNK_ROWS, _describe, open_table, resolve_columns

__all__ = ["iter_ijw_extract", "read_ijw_extract"]

IJW_TABLES = [m.table for m in MESSAGE_TYPES.values()]
_REFERENCES = {
    t: column_policy.columns_of(column_policy.REFERENCE, RAW_TABLES[t]) for t in IJW_TABLES
}

MANDATORY_COLUMNS = {
    "berichttype": ["berichttype", "bericht_type"],
    "bericht_id": ["bericht_id", "berichtid", "bericht_identificatie"],
    "bsn": ["bsn", "burgerservicenummer"],
}
OPTIONAL_COLUMNS = {
    name: [name, *extra]
    for name, extra in {
        "aanbieder_agb": ["aanbieder", "agb", "agb_aanbieder"],
        "gemeente": ["gemeentecode", "gemeente_code"],
        "berichtdatum": ["bericht_datum", "dagtekening"],
        "geboortedatum": ["geboorte_datum"],
        "geslacht": [],
        "referentie_aanbieder": [],
        "productcategorie": ["product_categorie"],
        "productcode": ["product_code"],
        "toewijzingnummer": ["toewijzingsnummer", "toewijzing_nummer"],
        "toewijzingsdatum": ["toewijzing_datum"],
        "ingangsdatum": [],
        "einddatum": [],
        "begindatum": [],
        "volume": [],
        "eenheid": [],
        "frequentie": [],
        "verwijzer_type": ["verwijzertype"],
        "reden_beeindiging": ["reden_beëindiging", "redenbeeindiging"],
        "budget": [],
        "declaratienummer": ["declaratie_nummer"],
        "declaratiedatum": ["declaratie_datum", "declaratie_dagtekening"],
        "declaratieperiode_begin": ["declaratieperiode_begindatum"],
        "declaratieperiode_eind": ["declaratieperiode_einddatum"],
        "product_referentie": ["productreferentie"],
        "vorig_product_referentie": ["vorige_product_referentie"],
        "product_periode_begin": ["productperiode_begin", "product_periode_begindatum"],
        "product_periode_eind": ["productperiode_eind", "product_periode_einddatum"],
        "tarief": ["producttarief", "product_tarief"],
        "bedrag": [],
        "debet_credit": ["debetcredit"],
    }.items()
}

_TYPES = {}
for _m in MESSAGE_TYPES.values():
    for _key in (_m.name, _m.name[2:], _m.code):
        _TYPES[_key] = _m
_DMY = re.compile(r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})")
_DEBIT_CREDIT = frozenset({"D", "C"})


def _date(text: str) -> date | None:
    match = _DMY.fullmatch(text)
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            return None
    return _parse_date(text)


class _Values:
    """Typed values of one row, remembering the first problem (as ijw._Row)."""

    def __init__(self, row: dict[str, str | None], labels: dict[str, str]):
        self.row = row
        self.labels = labels
        self.check = _Row()

    def _where(self, column: str) -> str:
        return f"column {self.labels.get(column, column)}"

    def text(self, column: str, required: bool = False) -> str | None:
        value = self.row.get(column)
        value = value.strip() if value else None
        value = value or None
        if required and value is None:
            self.check._flag("missing_field", self._where(column))
        return value

    def day(self, column: str, required: bool = False) -> date | None:
        value = self.text(column, required)
        if value is None:
            return None
        parsed = _date(value)
        if parsed is None:
            self.check._flag("invalid_date", self._where(column))
        return parsed

    def month(self, column: str) -> date | None:
        parsed = self.day(column, required=True)
        return parsed.replace(day=1) if parsed is not None else None

    def number(self, column: str, required: bool = False) -> int | None:
        value = self.text(column, required)
        if value is None:
            return None
        parsed = _parse_integer(value)
        if parsed is None:
            self.check._flag("invalid_number", self._where(column))
        return parsed

    def one_of(self, column: str, allowed: frozenset[str]) -> str | None:
        value = self.text(column, required=True)
        if value is not None and value.upper() not in allowed:
            self.check._flag("invalid_code", self._where(column))
            return value
        return value.upper() if value is not None else None


def _trajectory_header(v: _Values) -> dict:
    return {
        "message_id": v.text("bericht_id", True),
        "provider_agb": v.text("aanbieder_agb", True),
        "municipality_code": v.text("gemeente", True),
        "message_date": v.day("berichtdatum", True),
        "birth_month": v.month("geboortedatum"),
        "sex": v.text("geslacht", True),
    }


def _products(v: _Values, required: bool = False) -> dict:
    return {
        "product_category": v.text("productcategorie", required),
        "product_code": v.text("productcode", required),
    }


def _volume(v: _Values) -> dict:
    return {
        "volume": v.number("volume"),
        "unit": v.text("eenheid"),
        "frequency": v.text("frequentie"),
    }


def _jw315(v: _Values) -> dict:
    return {
        **_trajectory_header(v),
        "provider_reference": v.text("referentie_aanbieder", True),
        **_products(v),
        "requested_start": v.day("ingangsdatum", True),
        "requested_end": v.day("einddatum"),
        **_volume(v),
        "referrer_type": v.text("verwijzer_type", True),
    }


def _jw301(v: _Values) -> dict:
    return {
        **_trajectory_header(v),
        "allocation_number": v.text("toewijzingnummer", True),
        "provider_reference": v.text("referentie_aanbieder"),
        **_products(v),
        "allocation_date": v.day("toewijzingsdatum", True),
        "allocation_start": v.day("ingangsdatum", True),
        "allocation_end": v.day("einddatum"),
        **_volume(v),
        "budget_cents": v.number("budget"),
    }


def _jw305(v: _Values) -> dict:
    return {
        **_trajectory_header(v),
        "allocation_number": v.text("toewijzingnummer"),
        **_products(v),
        "start_date": v.day("begindatum", True),
    }


def _jw307(v: _Values) -> dict:
    return {
        **_trajectory_header(v),
        "allocation_number": v.text("toewijzingnummer"),
        **_products(v),
        "start_date": v.day("begindatum", True),
        "end_date": v.day("einddatum", True),
        "end_reason": v.text("reden_beeindiging", True),
    }


def _jw323(v: _Values) -> dict:
    return {
        "message_id": v.text("bericht_id", True),
        "declaration_number": v.text("declaratienummer", True),
        "provider_agb": v.text("aanbieder_agb", True),
        "municipality_code": v.text("gemeente", True),
        "declaration_date": v.day("declaratiedatum", True),
        "period_start": v.day("declaratieperiode_begin", True),
        "period_end": v.day("declaratieperiode_eind", True),
        "product_reference": v.text("product_referentie", True),
        "previous_product_reference": v.text("vorig_product_referentie"),
        "allocation_number": v.text("toewijzingnummer", True),
        **_products(v, required=True),
        "product_period_start": v.day("product_periode_begin", True),
        "product_period_end": v.day("product_periode_eind", True),
        "volume": v.number("volume", True),
        "unit": v.text("eenheid", True),
        "tariff_cents": v.number("tarief"),
        "amount_cents": v.number("bedrag", True),
        "debit_credit": v.one_of("debet_credit", _DEBIT_CREDIT),
    }


_EXTRACTORS = {"JW315": _jw315, "JW301": _jw301, "JW305": _jw305, "JW307": _jw307, "JW323": _jw323}


def _row_digest(fields: list[object]) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for value in fields:
        digest.update(
            b"\x00"
            if value is None
            else b"\x01" + str(value).encode("utf-8", "surrogatepass") + b"\x02"
        )
    return digest.digest()


def iter_ijw_extract(
    path: Path,
    delivery: Delivery,
    pseudonymiser: Pseudonymiser,
    known_product_codes: set[str] | frozenset[str] | None,
    *,
    chunk_rows: int | None = None,
) -> Iterator[ReadResult]:
    """Read one flat iJw extract as ReadResult parts (one per chunk, then one with notes).

    Raises DeliveryError when the file cannot be read as a text export or lacks the
    berichttype, bericht_id or bsn column."""
    path = Path(path)
    identities: dict[str | None, tuple] = {}
    seen: dict[bytes, int] = {}
    duplicates = 0
    other_municipality = 0
    expected_municipality = (
        delivery.sender.upper().removeprefix("GM")
        if delivery.sender.upper().startswith("GM")
        else None
    )
    key_version = pseudonymiser.key_version
    reference = lru_cache(maxsize=65536)(pseudonymiser.reference)
    with open_table(path, chunk_rows or CHUNK_ROWS) as table:
        columns = resolve_columns(
            table.columns,
            MANDATORY_COLUMNS,
            path,
            OPTIONAL_COLUMNS,
            (),
            table.info.get("duplicate_columns", ()),
        )
        labels = {
            canonical: table.labels[name] for canonical, name in columns.source.items() if name
        }
        width = len(table.columns)
        for first, raw in table.chunks:
            records = [
                [
                    f
                    if f is None or isinstance(f, str)
                    else (f.date().isoformat() if hasattr(f, "date") else str(f))
                    for f in r
                ]
                for r in raw.to_numpy(dtype=object).tolist()
            ]
            positions = {
                canonical: raw.columns.get_loc(name)
                for canonical, name in columns.source.items()
                if name
            }
            bsn_position = positions["bsn"]
            todo = sorted(
                {
                    r[bsn_position]
                    for r in records
                    if r[bsn_position] is not None and r[bsn_position] not in identities
                }
            )
            todo.append(None)
            if any(b not in identities for b in todo):
                identities.update(zip(todo, pseudonymiser.identify_many(todo)))
            loaded: dict[str, list[tuple]] = defaultdict(list)
            quarantined: dict[tuple[str, str], list[tuple[str, str, str | None]]] = defaultdict(
                list
            )
            for offset, fields in enumerate(records):
                locator = str(first + offset)
                row = {canonical: fields[p] for canonical, p in positions.items()}
                pseudonym, id_kind, version, error = identities[row["bsn"]]
                kind = _TYPES.get((row["berichttype"] or "").strip().upper())
                table_name = kind.table if kind else SOURCE_TABLE
                short = sum(1 for f in fields if f is None)
                if short:
                    quarantined[(table_name, "missing_field")].append(
                        (
                            locator,
                            f"row has {width - short} of the {width} fields of the header",
                            pseudonym,
                        )
                    )
                    continue
                if error is not None:
                    quarantined[(table_name, error)].append(
                        (
                            locator,
                            f"column {labels['bsn']}" if error != "missing_identifier" else "",
                            pseudonym,
                        )
                    )
                    continue
                if kind is None:
                    quarantined[(SOURCE_TABLE, "invalid_code")].append(
                        (
                            locator,
                            f"column {labels['berichttype']}: not one of JW315, JW301, JW305, "
                            "JW307, JW323",
                            pseudonym,
                        )
                    )
                    continue
                values = _Values(row, labels)
                data = _EXTRACTORS[kind.name](values)
                if values.check.problem is not None:
                    code, detail = values.check.problem
                    quarantined[(kind.table, code)].append((locator, detail, pseudonym))
                    continue
                product_code = data.get("product_code")
                if (
                    known_product_codes is not None
                    and product_code is not None
                    and product_code not in known_product_codes
                ):
                    quarantined[(kind.table, "unknown_product_code")].append(
                        (locator, f"ProductCode {safe_detail(product_code)}", pseudonym)
                    )
                    continue
                digest = _row_digest(fields)
                if digest in seen:
                    quarantined[(kind.table, "duplicate_row")].append(
                        (locator, f"same as row {seen[digest]}", pseudonym)
                    )
                    duplicates += 1
                    continue
                seen[digest] = first + offset
                data.update(client_pseudonym=pseudonym, id_kind=id_kind, key_version=version)
                for column in _REFERENCES[kind.table]:  # free-form: never stored as delivered
                    data[column] = reference(data[column])
                if (
                    expected_municipality is not None
                    and data["municipality_code"] != expected_municipality
                ):
                    other_municipality += 1
                loaded[kind.table].append((*(data[c] for c in RAW_TABLES[kind.table]), locator))
            tables = {name: Rows(name, loaded.get(name, [])) for name in IJW_TABLES}
            frames = []
            for (name, code), entries in quarantined.items():
                locators, details, pseudonyms = zip(*entries)
                with_pseudonym = [p for p in pseudonyms if p is not None]
                frames.append(
                    quarantine_rows(
                        list(locators),
                        name,
                        code,
                        list(details),
                        list(pseudonyms) if with_pseudonym else None,
                        key_version if with_pseudonym else None,
                    )
                )
            quarantine = pd.concat(frames, ignore_index=True) if frames else empty_quarantine()
            if len(quarantine):
                quarantine = (
                    quarantine.assign(_n=quarantine["row_locator"].astype(int))
                    .sort_values("_n", kind="stable")
                    .drop(columns="_n")
                    .reset_index(drop=True)
                )
            part = ReadResult(tables, quarantine, len(records))
            part.check_accounting()
            yield part
        info = table.info
    notes = [_describe(info, columns.ignored)]
    if duplicates:
        notes.append(f"{duplicates} exact duplicate row(s) quarantined")
    if other_municipality:
        notes.append(
            f"{other_municipality} loaded row(s) name a municipality other than the sender "
            f"{delivery.sender}"
        )
    yield ReadResult({name: Rows(name, []) for name in IJW_TABLES}, empty_quarantine(), 0, notes)


def read_ijw_extract(
    path: Path,
    delivery: Delivery,
    pseudonymiser: Pseudonymiser,
    known_product_codes: set[str] | frozenset[str] | None,
) -> ReadResult:
    """All of iter_ijw_extract in one ReadResult (accounting checked)."""
    result = combine_parts(iter_ijw_extract(path, delivery, pseudonymiser, known_product_codes))
    result.check_accounting()
    return result
