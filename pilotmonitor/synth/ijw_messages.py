"""Render synthetic iJw release 3.2 XML messages from pandas DataFrames.

Renders the message flow of a care trajectory (JW315, JW301, JW305, JW307, JW323); every
renderer yields ``(file_name, xml_bytes)`` pairs, one message per file, valid against the
official XSDs. The messages deliberately carry the personal data real messages carry (all
people are synthetic) so the pipeline can prove that it drops them.

Design notes: docs/design/synth.md#pilotmonitorsynthijw_messagespy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

__all__ = [
    "RETOUR_OF",
    "in_vendor_style",
    "render_jw301",
    "render_retour",
    "render_jw305",
    "render_jw307",
    "render_jw315",
    "render_jw323",
]

# ---------------------------------------------------------------------------------------------
# Constants from the iJw 3.2 XSDs and code lists
# ---------------------------------------------------------------------------------------------

BASIS_NAMESPACE = "http://www.istandaarden.nl/ijw/3_2/basisschema/schema"
# XsdVersie values as published in the appinfo of the reference XSDs.
BASISSCHEMA_XSD_VERSION = "0.1.0"
BERICHT_XSD_VERSION = "0.1.0"

BSN_PATTERN = r"[0-9]{9}"
AGB_PATTERN = r"[0-9]{8}"
MUNICIPALITY_PATTERN = r"[0-9]{4}"
NUMBER_PATTERN = r"[0-9]{1,9}"  # LDT_Nummer: integer 0..999999999
PHONE_PATTERN = r"[0-9]{1,15}"  # LDT_Telefoonnummer
DECLARATION_NUMBER_PATTERN = r"[a-zA-Z0-9]{1,12}"

SEX_CODES = frozenset({"0", "1", "2"})  # COD046
REFERRER_TYPES = frozenset({"01", "02", "03", "04", "05", "06", "08"})  # COD327
# Referrer types that are care professionals with an AGB code (CD066-CD068).
PROFESSIONAL_REFERRER_TYPES = frozenset({"02", "03", "04", "05"})
# JZ020 / LDT_ProductCategorie
PRODUCT_CATEGORIES = frozenset(
    {"31", "32", "33", "34", "35", "36", "37", "38"} | {str(code) for code in range(40, 56)}
)
UNITS = frozenset({"01", "04", "14", "16", "82", "83", "84"})  # WJ756
UNIT_EUROS = "83"
FREQUENCIES = frozenset({"1", "2", "4", "6"})  # WMO757
END_REASONS = frozenset({"02", "20", "31", "32", "33", "34", "35", "36", "37", "38", "39"})  # JZ588
DEBIT_CREDIT = frozenset({"D", "C"})  # COD043

ADDRESS_TYPE_BRP = "01"  # LDT_AdresSoort: BRP-adres
ADDRESS_TYPE_CORRESPONDENCE = "02"  # LDT_AdresSoort: correspondentie-adres
RELATION_TYPE_PARENT = "10"  # LDT_SoortRelatie: Ouder
NAME_USE_OWN = "1"  # LDT_NaamGebruik: eigen naam
STATUS_FIRST_DELIVERY = "1"  # COD467: eerste aanlevering
COUNTRY_NL = "NL"
DIALLING_CODE_NL = "0031"
MAX_STREET_LENGTH = 24  # LDT_Straatnaam (the BRP short street name has the same limit)

_INITIAL_LETTER = re.compile("[a-zA-Z\u00c0-\u1ef3]")  # LDT_Voorletters: [a-zA-ZÀ-ỳ]
_XML_SPECIAL = r"[&<>]"


@dataclass(frozen=True)
class MessageType:
    """Static properties of one iJw message type."""

    name: str  # e.g. "JW315"
    code: str  # BerichtCode (COD002-VEKTIS)

    @property
    def namespace(self) -> str:
        return f"http://www.istandaarden.nl/ijw/3_2/{self.name.lower()}/schema"

    @property
    def number(self) -> str:
        return self.name[2:]


JW301 = MessageType("JW301", "436")
JW305 = MessageType("JW305", "438")
JW307 = MessageType("JW307", "440")
JW315 = MessageType("JW315", "446")
JW323 = MessageType("JW323", "490")

# ---------------------------------------------------------------------------------------------
# Column specifications and column-wise preparation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """How one input column is validated and formatted before rendering.

    kind: "text" (escaped string), "date" (YYYY-MM-DD), "time" (HH:MM:SS of a datetime column)
    or "int" (decimal integer). Missing values become "" after preparation.
    """

    name: str
    kind: Literal["text", "date", "time", "int"] = "text"
    required: bool = True  # value must be non-null and non-blank
    allowed: frozenset[str] | None = None
    pattern: str | None = None
    max_length: int | None = None
    truncate: bool = False  # cut text to max_length instead of raising
    minimum: int | None = None
    maximum: int | None = None
    source: str | None = None  # input column, when it differs from name
    optional_column: bool = False  # column may be absent (then all values are missing)

    @property
    def input_name(self) -> str:
        return self.source or self.name


def _row_keys(frame: pd.DataFrame, mask: pd.Series | np.ndarray, key: str) -> str:
    """A short list of identifying values of the offending rows, for error messages."""
    mask = np.asarray(mask, dtype=bool)
    if key in frame.columns:
        values = frame[key].to_numpy()[mask][:5].tolist()
        label = key
    else:
        values = np.flatnonzero(mask)[:5].tolist()
        label = "row position"
    more = ", ..." if mask.sum() > 5 else ""
    return f"{label}: {', '.join(map(str, values))}{more}"


def _require_columns(frame: pd.DataFrame, columns: list[Column], message: str) -> None:
    wanted = dict.fromkeys(c.input_name for c in columns if not c.optional_column)
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ValueError(f"{message}: required column(s) missing: {', '.join(missing)}")


def _raise_for(
    frame: pd.DataFrame, mask: pd.Series | np.ndarray, key: str, message: str, problem: str
) -> None:
    count = int(np.asarray(mask, dtype=bool).sum())
    if count:
        where = _row_keys(frame, mask, key)
        raise ValueError(f"{message}: {problem} in {count} row(s) ({where})")


def _text_values(
    frame: pd.DataFrame, series: pd.Series, spec: Column, key: str, message: str
) -> np.ndarray:
    null = series.isna().to_numpy()
    text = series.astype(object).where(~null, "").astype(str)
    if spec.truncate and spec.max_length is not None:
        text = text.str.slice(0, spec.max_length)
    missing = null | (text.str.strip() == "").to_numpy()
    if spec.required:
        _raise_for(frame, missing, key, message, f"column '{spec.name}' is null or blank")
    present = ~missing
    if spec.allowed is not None:
        bad = present & ~text.isin(spec.allowed).to_numpy()
        allowed = ", ".join(sorted(spec.allowed))
        _raise_for(frame, bad, key, message, f"column '{spec.name}' is not one of [{allowed}]")
    if spec.pattern is not None:
        bad = present & ~text.str.fullmatch(spec.pattern).to_numpy(dtype=bool)
        _raise_for(
            frame, bad, key, message, f"column '{spec.name}' does not match {spec.pattern!r}"
        )
    if spec.max_length is not None and not spec.truncate:
        bad = present & (text.str.len() > spec.max_length).to_numpy()
        _raise_for(
            frame, bad, key, message, f"column '{spec.name}' is longer than {spec.max_length}"
        )
    text = text.where(present, "")
    needs_escape = text.str.contains(_XML_SPECIAL, regex=True)
    if needs_escape.any():
        text = text.where(~needs_escape, text[needs_escape].map(escape))
    return text.to_numpy(dtype=object)


def _datetimes(
    frame: pd.DataFrame, series: pd.Series, spec: Column, key: str, message: str
) -> pd.Series:
    values = pd.to_datetime(series, errors="coerce")
    unparsable = series.notna().to_numpy() & values.isna().to_numpy()
    _raise_for(frame, unparsable, key, message, f"column '{spec.name}' is not a date")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)  # keep the local wall-clock date
    if spec.required:
        _raise_for(frame, values.isna(), key, message, f"column '{spec.name}' is null")
    return values


def _date_values(
    frame: pd.DataFrame, series: pd.Series, spec: Column, key: str, message: str
) -> np.ndarray:
    values = _datetimes(frame, series, spec, key, message)
    days = values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(str)
    return np.where(days == "NaT", "", days).astype(object)


def _time_values(
    frame: pd.DataFrame, series: pd.Series, spec: Column, key: str, message: str
) -> np.ndarray:
    values = _datetimes(frame, series, spec, key, message)
    return values.dt.strftime("%H:%M:%S").fillna("").to_numpy(dtype=object)


def _int_values(
    frame: pd.DataFrame, series: pd.Series, spec: Column, key: str, message: str
) -> np.ndarray:
    numbers = pd.to_numeric(series, errors="coerce")
    null = series.isna().to_numpy()
    _raise_for(
        frame,
        ~null & numbers.isna().to_numpy(),
        key,
        message,
        f"column '{spec.name}' is not numeric",
    )
    if spec.required:
        _raise_for(frame, null, key, message, f"column '{spec.name}' is null")
    present = ~null
    as_float = numbers.to_numpy(dtype="float64", na_value=np.nan)
    fractional = present & (np.nan_to_num(as_float) % 1 != 0)
    _raise_for(frame, fractional, key, message, f"column '{spec.name}' is not an integer")
    if spec.minimum is not None:
        low = present & (np.nan_to_num(as_float, nan=spec.minimum) < spec.minimum)
        _raise_for(frame, low, key, message, f"column '{spec.name}' is below {spec.minimum}")
    if spec.maximum is not None:
        high = present & (np.nan_to_num(as_float, nan=spec.maximum) > spec.maximum)
        _raise_for(frame, high, key, message, f"column '{spec.name}' is above {spec.maximum}")
    integers = numbers.astype("Int64").astype(str).to_numpy(dtype=object)
    return np.where(present, integers, "").astype(object)


_PREPARERS: dict[str, Callable[..., np.ndarray]] = {
    "text": _text_values,
    "date": _date_values,
    "time": _time_values,
    "int": _int_values,
}


def _prepare(frame: pd.DataFrame, columns: list[Column], message: str, key: str) -> pd.DataFrame:
    """Validate the input and return one formatted string column per spec (same row order)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{message}: expected a pandas DataFrame, got {type(frame).__name__}")
    _require_columns(frame, columns, message)
    prepared: dict[str, np.ndarray] = {}
    for spec in columns:
        if spec.input_name in frame.columns:
            series = frame[spec.input_name].reset_index(drop=True)
        else:  # an optional column that is absent: every value is missing
            series = pd.Series([None] * len(frame), dtype=object)
        prepared[spec.name] = _PREPARERS[spec.kind](frame, series, spec, key, message)
    return pd.DataFrame(prepared)


@lru_cache(maxsize=65536)
def _initials_of(given_names: str) -> str:
    """Voorletters: first letter of each given name, letters only, at most 6."""
    letters = (name[0] for name in given_names.split() if _INITIAL_LETTER.fullmatch(name[0]))
    return "".join(letters)[:6]


def _initials(series: pd.Series) -> np.ndarray:
    names = series.astype(object).where(series.notna(), "").astype(str)
    return names.map(_initials_of).to_numpy(dtype=object)


def _check_unique(frame: pd.DataFrame, column: str, message: str) -> None:
    duplicated = frame[column].duplicated(keep=False).to_numpy()
    _raise_for(frame, duplicated, column, message, f"column '{column}' is not unique")


# ---------------------------------------------------------------------------------------------
# Template fragments (values are already validated and XML-escaped)
# ---------------------------------------------------------------------------------------------


def _document(message: MessageType, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Bericht xmlns="{message.namespace}" xmlns:ijw="{BASIS_NAMESPACE}">{body}</Bericht>\n'
    ).encode()


def _header(
    message: MessageType, sender: str, receiver: str, identification: str, dagtekening: str
) -> str:
    return (
        f"<Header><BerichtCode>{message.code}</BerichtCode>"
        "<BerichtVersie>3</BerichtVersie><BerichtSubversie>2</BerichtSubversie>"
        f"<Afzender>{sender}</Afzender><Ontvanger>{receiver}</Ontvanger>"
        f"<BerichtIdentificatie><ijw:Identificatie>{identification}</ijw:Identificatie>"
        f"<ijw:Dagtekening>{dagtekening}</ijw:Dagtekening></BerichtIdentificatie>"
        f"<XsdVersie><ijw:BasisschemaXsdVersie>{BASISSCHEMA_XSD_VERSION}"
        "</ijw:BasisschemaXsdVersie>"
        f"<ijw:BerichtXsdVersie>{BERICHT_XSD_VERSION}</ijw:BerichtXsdVersie></XsdVersie>"
        "</Header>"
    )


def _trajectory_identification(message: MessageType, trajectory_id: str) -> str:
    """Deterministic BerichtIdentificatie (max 12 characters): type number + 9-digit id."""
    return f"{message.number}{int(trajectory_id):09d}"


def _element(name: str, value: str) -> str:
    """An optional element: rendered only when the value is present."""
    return f"<{name}>{value}</{name}>" if value else ""


def _birth_date(date: str) -> str:
    return f"<Geboortedatum><ijw:Datum>{date}</ijw:Datum></Geboortedatum>"


def _surname(surname: str, prefix: str) -> str:
    """CDT_Achternaam content inside ijw:Geslachtsnaam."""
    return (
        f"<ijw:Geslachtsnaam><ijw:Achternaam>{surname}</ijw:Achternaam>"
        f"{_element('ijw:Voorvoegsel', prefix)}</ijw:Geslachtsnaam>"
    )


def _short_name(surname: str, prefix: str, given_names: str, initials: str) -> str:
    """CDT_VerkorteNaam, used in JW315, JW305 and JW307."""
    return (
        f"<Naam>{_surname(surname, prefix)}{_element('ijw:Voornamen', given_names)}"
        f"{_element('ijw:Voorletters', initials)}</Naam>"
    )


def _full_name(surname: str, prefix: str, given_names: str, initials: str) -> str:
    """CDT_VolledigeNaam, used in JW301 for the client and the parent."""
    return (
        f"<Naam>{_surname(surname, prefix)}{_element('ijw:Voornamen', given_names)}"
        f"{_element('ijw:Voorletters', initials)}"
        f"<ijw:NaamGebruik>{NAME_USE_OWN}</ijw:NaamGebruik></Naam>"
    )


def _product(category: str, code: str) -> str:
    return (
        f"<Product><ijw:Categorie>{category}</ijw:Categorie>{_element('ijw:Code', code)}</Product>"
    )


def _volume(volume: str, unit: str, frequency: str) -> str:
    return (
        f"<Omvang><ijw:Volume>{volume}</ijw:Volume><ijw:Eenheid>{unit}</ijw:Eenheid>"
        f"<ijw:Frequentie>{frequency}</ijw:Frequentie></Omvang>"
    )


def _referrer(referrer_type: str, name: str, agb: str) -> str:
    """CDT_Verwijzer following CD066-CD068 (validated beforehand)."""
    if referrer_type in PROFESSIONAL_REFERRER_TYPES and agb:
        return (
            f"<Verwijzer><ijw:Type>{referrer_type}</ijw:Type>"
            f"<ijw:ZorgverlenerCode>{agb}</ijw:ZorgverlenerCode></Verwijzer>"
        )
    name_element = _element("ijw:Naam", name)
    return f"<Verwijzer><ijw:Type>{referrer_type}</ijw:Type>{name_element}</Verwijzer>"


def _phone(number: str) -> str:
    if not number:
        return ""
    return (
        f"<Telefoon><ijw:Telefoon01><ijw:Telefoonnummer>{number}</ijw:Telefoonnummer>"
        f"<ijw:Landnummer>{DIALLING_CODE_NL}</ijw:Landnummer></ijw:Telefoon01></Telefoon>"
    )


def _home_contact(street: str, house_number: str, postcode: str, city: str, phone: str) -> str:
    """JW301 Contactgegevens: the BRP address (Soort 01) with the home phone."""
    return (
        f"<Contactgegevens><Contact><Soort>{ADDRESS_TYPE_BRP}</Soort><Adres>"
        f"<ijw:Huis><ijw:Huisnummer>{house_number}</ijw:Huisnummer></ijw:Huis>"
        f"<ijw:Postcode>{postcode}</ijw:Postcode><ijw:Straatnaam>{street}</ijw:Straatnaam>"
        f"<ijw:Plaatsnaam>{city}</ijw:Plaatsnaam><ijw:LandCode>{COUNTRY_NL}</ijw:LandCode>"
        f"</Adres>{_phone(phone)}</Contact></Contactgegevens>"
    )


def _parent_relation(surname: str, given_names: str, initials: str, phone: str) -> str:
    """JW301 Relaties: one parent (Soort 10) reachable by phone; absent without a surname."""
    if not surname:
        return ""
    return (
        "<Relaties><Relatie><Nummer>1</Nummer><Volgorde>1</Volgorde>"
        f"<Soort>{RELATION_TYPE_PARENT}</Soort>{_full_name(surname, '', given_names, initials)}"
        f"<Contact><Soort>{ADDRESS_TYPE_CORRESPONDENCE}</Soort>{_phone(phone)}</Contact>"
        "</Relatie></Relaties>"
    )


def _client_identity(row: Any) -> str:
    """Bsn, Geboortedatum and Geslacht, the first elements of every trajectory Client."""
    return f"<Bsn>{row.bsn}</Bsn>{_birth_date(row.birth_date)}<Geslacht>{row.sex}</Geslacht>"


@dataclass(frozen=True)
class _TrajectoryLayout:
    """A trajectory message as its client part (header and Client up to the product list),
    one element per product, and the closing tags."""

    client: Callable[[Any, str], str]
    product: Callable[[Any], str]
    close: str
    # Header and client values every product of one message must share.
    shared: tuple[str, ...]


_MESSAGE_GROUP = Column("message_group", "int", required=False, minimum=0, optional_column=True)


def _message_groups(
    rows: pd.DataFrame, message: MessageType, layout: _TrajectoryLayout
) -> list[list[Any]]:
    """Rows per message: rows with the same ``message_group`` are the products of one
    message (several products for one client, as real senders write them); a row without
    one is a message of its own. Order of first appearance."""
    groups: dict[object, list[Any]] = {}
    for position, row in enumerate(rows.itertuples(index=False, name="Row")):
        groups.setdefault(row.message_group or f"row{position}", []).append(row)
    for members in groups.values():
        first = members[0]
        for other in members[1:]:
            different = [
                name for name in layout.shared if getattr(other, name) != getattr(first, name)
            ]
            if different:
                raise ValueError(
                    f"{message.name}: message_group {first.message_group} mixes rows with "
                    f"different {', '.join(different)} (trajectory_id: {first.trajectory_id}, "
                    f"{other.trajectory_id})"
                )
    return list(groups.values())


def _iter_trajectory_messages(
    rows: pd.DataFrame, message: MessageType, layout: _TrajectoryLayout
) -> Iterator[tuple[str, bytes]]:
    for members in _message_groups(rows, message, layout):
        identification = _trajectory_identification(message, members[0].trajectory_id)
        body = (
            layout.client(members[0], identification)
            + "".join(layout.product(row) for row in members)
            + layout.close
        )
        yield f"{message.name}_{identification}.xml", _document(message, body)


# ---------------------------------------------------------------------------------------------
# Trajectory messages: JW315, JW301, JW305, JW307
# ---------------------------------------------------------------------------------------------

_TRAJECTORY_ID = Column("trajectory_id", "int", minimum=0, maximum=999_999_999)
_CLIENT_COLUMNS = [
    _TRAJECTORY_ID,
    Column("bsn", pattern=BSN_PATTERN),
    Column("birth_date", "date"),
    Column("sex", allowed=SEX_CODES),
    Column("given_name", required=False, max_length=200),
    Column("surname_prefix", required=False, max_length=10),
    Column("surname", max_length=200),
    Column("municipality_code", pattern=MUNICIPALITY_PATTERN),
    Column("provider_agb", pattern=AGB_PATTERN),
    Column("product_category", allowed=PRODUCT_CATEGORIES),
    Column("product_code", max_length=5),
]
_VOLUME_COLUMNS = [
    Column("unit", allowed=UNITS),
    Column("frequency", allowed=FREQUENCIES),
    Column("volume", "int", minimum=0, maximum=99_999_999),
]


def _prepare_trajectories(
    trajectories: pd.DataFrame, extra: list[Column], message: MessageType
) -> pd.DataFrame:
    # Message-specific columns first, so that a row the caller should have filtered out
    # (e.g. no end_date for JW307) is reported by its event column.
    rows = _prepare(
        trajectories, extra + _CLIENT_COLUMNS + [_MESSAGE_GROUP], message.name, "trajectory_id"
    )
    _check_unique(rows, "trajectory_id", message.name)
    rows["initials"] = _initials(trajectories["given_name"])
    return rows


def _check_referrers(rows: pd.DataFrame, message: str) -> None:
    """CD067: a professional referrer (02-05) without AGB code needs a name."""
    professional = rows["referrer_type"].isin(PROFESSIONAL_REFERRER_TYPES).to_numpy()
    unnamed = (rows["referrer_agb"] == "").to_numpy() & (rows["referrer_name"] == "").to_numpy()
    _raise_for(
        rows,
        professional & unnamed,
        "trajectory_id",
        message,
        "referrer_type 02-05 needs 'referrer_agb' or 'referrer_name' (iJw CD067)",
    )


_JW315_COLUMNS = [
    Column("request_date", "date"),
    Column("provider_reference", max_length=36),
    Column("requested_start", "date"),
    Column("requested_end", "date", required=False),
    *_VOLUME_COLUMNS,
    Column("referrer_type", allowed=REFERRER_TYPES),
    Column("referrer_name", required=False, max_length=64),
    Column("referrer_agb", required=False, pattern=AGB_PATTERN),
]


_CLIENT_FIELDS = (
    "bsn",
    "birth_date",
    "sex",
    "surname",
    "surname_prefix",
    "given_name",
    "municipality_code",
    "provider_agb",
)


def _jw315_client(row: Any, identification: str) -> str:
    return (
        _header(JW315, row.provider_agb, row.municipality_code, identification, row.request_date)
        + f"<Client>{_client_identity(row)}"
        + _short_name(row.surname, row.surname_prefix, row.given_name, row.initials)
        + "<AangevraagdeProducten>"
    )


def _jw315_product(row: Any) -> str:
    return (
        "<AangevraagdProduct>"
        + f"<ReferentieAanbieder>{row.provider_reference}</ReferentieAanbieder>"
        + _product(row.product_category, row.product_code)
        + f"<ToewijzingIngangsdatum>{row.requested_start}</ToewijzingIngangsdatum>"
        + _element("ToewijzingEinddatum", row.requested_end)
        + _volume(row.volume, row.unit, row.frequency)
        + _referrer(row.referrer_type, row.referrer_name, row.referrer_agb)
        + "</AangevraagdProduct>"
    )


_JW315_LAYOUT = _TrajectoryLayout(
    _jw315_client,
    _jw315_product,
    "</AangevraagdeProducten></Client>",
    (*_CLIENT_FIELDS, "request_date"),
)


def render_jw315(trajectories: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """JW315 request for allocation (provider -> municipality), one per trajectory row.

    Dagtekening is ``request_date``; the requested product period is ``requested_start`` to
    ``requested_end`` (open when NaT). Input is validated before the first message is yielded.
    """
    rows = _prepare_trajectories(trajectories, _JW315_COLUMNS, JW315)
    _check_referrers(rows, JW315.name)
    return _iter_trajectory_messages(rows, JW315, _JW315_LAYOUT)


_JW301_COLUMNS = [
    Column("allocation_date", "date"),
    Column("allocation_time", "time", source="allocation_date"),
    Column("allocation_number", pattern=NUMBER_PATTERN),
    Column("allocation_start", "date"),
    Column("allocation_end", "date", required=False),
    Column("street", max_length=MAX_STREET_LENGTH, truncate=True),
    Column("house_number", "int", minimum=0, maximum=99_999),
    Column("postcode", max_length=8),
    Column("city", max_length=80),
    Column("phone", required=False, pattern=PHONE_PATTERN),
    Column("parent_given_name", required=False, max_length=200),
    Column("parent_surname", required=False, max_length=200),
    Column("parent_phone", required=False, pattern=PHONE_PATTERN),
    Column("provider_reference", required=False, max_length=36),
    *_VOLUME_COLUMNS,
]


def _jw301_client(row: Any, identification: str) -> str:
    return (
        _header(JW301, row.municipality_code, row.provider_agb, identification, row.allocation_date)
        + f"<Client>{_client_identity(row)}"
        + _full_name(row.surname, row.surname_prefix, row.given_name, row.initials)
        + _parent_relation(
            row.parent_surname, row.parent_given_name, row.parent_initials, row.parent_phone
        )
        + _home_contact(row.street, row.house_number, row.postcode, row.city, row.phone)
        + "<ToegewezenProducten>"
    )


def _jw301_product(row: Any) -> str:
    return (
        "<ToegewezenProduct>"
        + f"<ToewijzingNummer>{row.allocation_number}</ToewijzingNummer>"
        + _element("ReferentieAanbieder", row.provider_reference)
        + _product(row.product_category, row.product_code)
        + f"<Toewijzingsdatum>{row.allocation_date}</Toewijzingsdatum>"
        + f"<Toewijzingstijd>{row.allocation_time}</Toewijzingstijd>"
        + f"<Ingangsdatum>{row.allocation_start}</Ingangsdatum>"
        + _element("Einddatum", row.allocation_end)
        + _volume(row.volume, row.unit, row.frequency)
        + "</ToegewezenProduct>"
    )


_JW301_LAYOUT = _TrajectoryLayout(
    _jw301_client,
    _jw301_product,
    "</ToegewezenProducten></Client>",
    (
        *_CLIENT_FIELDS,
        "allocation_date",
        "street",
        "house_number",
        "postcode",
        "city",
        "phone",
        "parent_surname",
        "parent_given_name",
        "parent_phone",
    ),
)


def render_jw301(trajectories: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """JW301 allocation (municipality -> provider), one per trajectory row.

    Requires ``allocation_number``, ``allocation_date`` and ``allocation_start`` in every row
    passed (filter out unallocated trajectories first). Dagtekening and Toewijzingsdatum are
    ``allocation_date``; Toewijzingstijd is its time of day (00:00:00 for plain dates). Carries
    the client's full name, BRP address and phone, and the parent (when ``parent_surname`` is
    given) with name and phone.
    """
    rows = _prepare_trajectories(trajectories, _JW301_COLUMNS, JW301)
    rows["parent_initials"] = _initials(trajectories["parent_given_name"])
    return _iter_trajectory_messages(rows, JW301, _JW301_LAYOUT)


_ALLOCATION_REFERENCE_COLUMNS = [
    Column("allocation_number", required=False, pattern=NUMBER_PATTERN),
    Column("allocation_start", "date", required=False),
]


def _jw305_client(row: Any, identification: str) -> str:
    return (
        _header(JW305, row.provider_agb, row.municipality_code, identification, row.start_date)
        + f"<Client>{_client_identity(row)}"
        + _short_name(row.surname, row.surname_prefix, row.given_name, row.initials)
        + "<StartProducten>"
    )


def _jw305_product(row: Any) -> str:
    return (
        "<StartProduct>"
        + _element("ToewijzingNummer", row.allocation_number)
        + _product(row.product_category, row.product_code)
        + _element("ToewijzingIngangsdatum", row.allocation_start)
        + f"<Begindatum>{row.start_date}</Begindatum>"
        + f"<StatusAanlevering>{STATUS_FIRST_DELIVERY}</StatusAanlevering>"
        + "</StartProduct>"
    )


_JW305_LAYOUT = _TrajectoryLayout(
    _jw305_client, _jw305_product, "</StartProducten></Client>", (*_CLIENT_FIELDS, "start_date")
)


def render_jw305(trajectories: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """JW305 start of care (provider -> municipality), one per trajectory row.

    Requires ``start_date`` (also the Dagtekening). ToewijzingNummer and
    ToewijzingIngangsdatum are rendered when ``allocation_number`` / ``allocation_start`` are
    present.
    """
    columns = [Column("start_date", "date"), *_ALLOCATION_REFERENCE_COLUMNS]
    rows = _prepare_trajectories(trajectories, columns, JW305)
    return _iter_trajectory_messages(rows, JW305, _JW305_LAYOUT)


def _jw307_client(row: Any, identification: str) -> str:
    return (
        _header(JW307, row.provider_agb, row.municipality_code, identification, row.end_date)
        + f"<Client>{_client_identity(row)}"
        + _short_name(row.surname, row.surname_prefix, row.given_name, row.initials)
        + "<StopProducten>"
    )


def _jw307_product(row: Any) -> str:
    return (
        "<StopProduct>"
        + _element("ToewijzingNummer", row.allocation_number)
        + _product(row.product_category, row.product_code)
        + _element("ToewijzingIngangsdatum", row.allocation_start)
        + f"<Begindatum>{row.start_date}</Begindatum>"
        + f"<RedenBeeindiging>{row.end_reason}</RedenBeeindiging>"
        + f"<Einddatum>{row.end_date}</Einddatum>"
        + f"<StatusAanlevering>{STATUS_FIRST_DELIVERY}</StatusAanlevering>"
        + "</StopProduct>"
    )


_JW307_LAYOUT = _TrajectoryLayout(
    _jw307_client, _jw307_product, "</StopProducten></Client>", (*_CLIENT_FIELDS, "end_date")
)


def render_jw307(trajectories: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """JW307 end of care (provider -> municipality), one per trajectory row.

    Requires ``end_date`` (also the Dagtekening), ``end_reason`` (JZ588) and ``start_date``
    (StopProduct/Begindatum is mandatory in the XSD).
    """
    columns = [
        Column("end_date", "date"),
        Column("end_reason", allowed=END_REASONS),
        Column("start_date", "date"),
        *_ALLOCATION_REFERENCE_COLUMNS,
    ]
    rows = _prepare_trajectories(trajectories, columns, JW307)
    return _iter_trajectory_messages(rows, JW307, _JW307_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Declarations: JW323
# ---------------------------------------------------------------------------------------------

_JW323_HEADER_FIELDS = (
    "provider_agb",
    "municipality_code",
    "period_start",
    "period_end",
    "declaration_date",
)
_JW323_COLUMNS = [
    Column("declaration_number", pattern=DECLARATION_NUMBER_PATTERN),
    Column("provider_agb", pattern=AGB_PATTERN),
    Column("municipality_code", pattern=MUNICIPALITY_PATTERN),
    Column("period_start", "date"),
    Column("period_end", "date"),
    Column("declaration_date", "date"),
    Column("bsn", pattern=BSN_PATTERN),
    Column("product_reference", max_length=20),
    Column("previous_product_reference", required=False, max_length=20, optional_column=True),
    Column("allocation_number", pattern=NUMBER_PATTERN),
    Column("product_category", allowed=PRODUCT_CATEGORIES),
    Column("product_code", max_length=5),
    Column("product_period_start", "date"),
    Column("product_period_end", "date"),
    Column("volume", "int", minimum=0, maximum=99_999_999),
    Column("unit", allowed=UNITS),
    Column("tariff_cents", "int", required=False, minimum=0, maximum=99_999_999),
    Column("amount_cents", "int", minimum=0, maximum=99_999_999),
    Column("debit_credit", allowed=DEBIT_CREDIT),
]


def _check_declaration_lines(rows: pd.DataFrame) -> None:
    """Conditional rules on Prestatie lines that the input must allow (CD087, CD060, CS325)."""
    credit = (rows["debit_credit"] == "C").to_numpy()
    no_tariff = (rows["unit"] != UNIT_EUROS).to_numpy() & (rows["tariff_cents"] == "").to_numpy()
    _raise_for(
        rows,
        no_tariff,
        "product_reference",
        JW323.name,
        "column 'tariff_cents' is null for a unit other than 83 (iJw CD087)",
    )
    no_previous = credit & (rows["previous_product_reference"] == "").to_numpy()
    _raise_for(
        rows,
        no_previous,
        "product_reference",
        JW323.name,
        "column 'previous_product_reference' is missing or null on a credit line (iJw CD060)",
    )
    zero_credit = credit & (rows["amount_cents"] == "0").to_numpy()
    _raise_for(
        rows,
        zero_credit,
        "product_reference",
        JW323.name,
        "a zero 'amount_cents' must be debit 'D' (iJw CS325)",
    )


def _prestatie(row: Any) -> str:
    credit = row.debit_credit == "C"
    previous = (
        f"<ijw:VorigReferentieNummer>{row.previous_product_reference}</ijw:VorigReferentieNummer>"
        if credit
        else ""
    )
    tariff = "" if row.unit == UNIT_EUROS else f"<ProductTarief>{row.tariff_cents}</ProductTarief>"
    return (
        f"<Prestatie><ProductReferentie><ijw:ReferentieNummer>{row.product_reference}"
        f"</ijw:ReferentieNummer>{previous}</ProductReferentie>"
        f"<ToewijzingNummer>{row.allocation_number}</ToewijzingNummer>"
        f"<ProductCategorie>{row.product_category}</ProductCategorie>"
        f"<ProductCode>{row.product_code}</ProductCode>"
        f"<ProductPeriode><ijw:Begindatum>{row.product_period_start}</ijw:Begindatum>"
        f"<ijw:Einddatum>{row.product_period_end}</ijw:Einddatum></ProductPeriode>"
        f"<GeleverdVolume>{row.volume}</GeleverdVolume><Eenheid>{row.unit}</Eenheid>{tariff}"
        f"<IngediendBedrag><ijw:Bedrag>{row.amount_cents}</ijw:Bedrag>"
        f"<ijw:DebetCredit>{row.debit_credit}</ijw:DebetCredit></IngediendBedrag></Prestatie>"
    )


@dataclass
class _Declaration:
    """One JW323 message being assembled: header values, lines per client, signed total."""

    header: tuple[str, ...]
    clients: dict[str, list[str]]
    total_cents: int = 0


def _collect_declarations(rows: pd.DataFrame) -> dict[str, _Declaration]:
    """Group lines by declaration, then by bsn, both in order of first appearance."""
    declarations: dict[str, _Declaration] = {}
    for row in rows.itertuples(index=False, name="Row"):
        header = tuple(getattr(row, field) for field in _JW323_HEADER_FIELDS)
        declaration = declarations.get(row.declaration_number)
        if declaration is None:
            declaration = _Declaration(header=header, clients={})
            declarations[row.declaration_number] = declaration
        elif declaration.header != header:
            raise ValueError(
                f"JW323: declaration_number {row.declaration_number} has lines with different "
                f"values in {', '.join(_JW323_HEADER_FIELDS)}"
            )
        declaration.clients.setdefault(row.bsn, []).append(_prestatie(row))
        amount = int(row.amount_cents)
        declaration.total_cents += -amount if row.debit_credit == "C" else amount
    return declarations


def _jw323_body(number: str, declaration: _Declaration) -> str:
    provider, municipality, period_start, period_end, dagtekening = declaration.header
    total = declaration.total_cents
    total_sign = "C" if total < 0 else "D"  # CS325: zero is debit
    clients = "".join(
        f"<Client><Bsn>{bsn}</Bsn><Prestaties>{''.join(lines)}</Prestaties></Client>"
        for bsn, lines in declaration.clients.items()
    )
    return (
        _header(JW323, provider, municipality, number, dagtekening)
        + f"<Declaratie><DeclaratieNummer>{number}</DeclaratieNummer>"
        + f"<DeclaratiePeriode><ijw:Begindatum>{period_start}</ijw:Begindatum>"
        + f"<ijw:Einddatum>{period_end}</ijw:Einddatum></DeclaratiePeriode>"
        + f"<DeclaratieDagtekening>{dagtekening}</DeclaratieDagtekening>"
        + f"<TotaalIngediendBedrag><ijw:TotaalBedrag>{abs(total)}</ijw:TotaalBedrag>"
        + f"<ijw:DebetCredit>{total_sign}</ijw:DebetCredit></TotaalIngediendBedrag>"
        + f"<Clienten>{clients}</Clienten></Declaratie>"
    )


def _iter_declarations(
    declarations: dict[str, _Declaration],
) -> Iterator[tuple[str, bytes]]:
    for number, declaration in declarations.items():
        yield f"{JW323.name}_{number}.xml", _document(JW323, _jw323_body(number, declaration))


def render_jw323(declarations: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """JW323 declaration (provider -> municipality), one per distinct ``declaration_number``.

    Input has one row per Prestatie line. Lines are grouped by declaration and, inside, by
    ``bsn`` (order of first appearance). BerichtIdentificatie is the declaration number;
    Dagtekening and DeclaratieDagtekening are ``declaration_date``. TotaalIngediendBedrag is
    the signed sum (debit positive, credit negative) as an absolute amount plus D/C.
    Credit lines need the optional column ``previous_product_reference`` (the ProductReferentie
    of the debit line they reverse, rendered as VorigReferentieNummer); ``tariff_cents`` may be
    null only for unit 83 (euro's).
    """
    rows = _prepare(declarations, _JW323_COLUMNS, JW323.name, "product_reference")
    _check_declaration_lines(rows)
    return _iter_declarations(_collect_declarations(rows))


# ---------------------------------------------------------------------------------------------
# What real exports hold besides: other vendors' namespace prefixes, retour messages
# ---------------------------------------------------------------------------------------------


def in_vendor_style(xml: bytes, message: str, basis_prefix: str = "b") -> bytes:
    """The same message as other software writes it: every element prefixed
    (``<jw301:Bericht xmlns:jw301=...>``) instead of a default namespace, and another
    prefix for the basisschema. Namespace-equivalent, so equally valid against the XSD.

    Plain byte replacement (a regular expression over every tag took a quarter of the
    generator's time): the renderers write each element unprefixed or ``ijw:``, no comment
    or processing instruction after the declaration, and text never holds a bare ``<``."""
    prefix = message.lower().encode()
    basis = basis_prefix.encode()
    xml = xml.replace(b'xmlns="', b"xmlns:" + prefix + b'="', 1).replace(
        b"xmlns:ijw=", b"xmlns:" + basis + b"=", 1
    )
    opening, closing = b"<" + prefix + b":", b"</" + prefix + b":"
    # NUL cannot occur in XML: a safe stand-in for the closing tags while opening ones change
    xml = xml.replace(b"</", b"\0").replace(b"<", opening).replace(b"\0", closing)
    return (
        xml.replace(opening + b"?", b"<?", 1)
        .replace(opening + b"ijw:", b"<" + basis + b":")
        .replace(closing + b"ijw:", b"</" + basis + b":")
    )


# The retour message answering each message type (a technical acknowledgement with
# return codes; 0200 = accepted). The warehouse does not use them; exports include them.
RETOUR_OF = {
    "JW301": MessageType("JW302", "437"),
    "JW305": MessageType("JW306", "439"),
    "JW307": MessageType("JW308", "441"),
    "JW315": MessageType("JW316", "447"),
    "JW323": MessageType("JW325", "491"),
}
_HEADER_PARTIES = re.compile(
    rb"<(?:\w+:)?Afzender>([^<]*)</(?:\w+:)?Afzender><(?:\w+:)?Ontvanger>([^<]*)</"
)
_IDENTIFICATION = re.compile(
    rb"<(?:\w+:)?Identificatie>([^<]*)</(?:\w+:)?Identificatie><(?:\w+:)?Dagtekening>([^<]*)<"
)


def render_retour(message: str, xml: bytes) -> tuple[str, bytes]:
    """The retour message (file name, bytes) answering one rendered message: sender and
    receiver swapped, the original's identification referred to, return code 0200."""
    retour = RETOUR_OF[message]
    sender, receiver = _HEADER_PARTIES.search(xml).groups()
    identification, dagtekening = (value.decode() for value in _IDENTIFICATION.search(xml).groups())
    body = (
        f"<Header><BerichtCode>{retour.code}</BerichtCode><BerichtVersie>3</BerichtVersie><BerichtSubversie>2</BerichtSubversie>"
        f"<Afzender>{receiver.decode()}</Afzender><Ontvanger>{sender.decode()}</Ontvanger>"
        f"<IdentificatieRetour>{identification}</IdentificatieRetour><DagtekeningRetour>{dagtekening}</DagtekeningRetour>"
        f"<XsdVersie><ijw:BasisschemaXsdVersie>{BASISSCHEMA_XSD_VERSION}</ijw:BasisschemaXsdVersie>"
        f"<ijw:BerichtXsdVersie>{BERICHT_XSD_VERSION}</ijw:BerichtXsdVersie></XsdVersie>"
        "<RetourCodes><RetourCode>0200</RetourCode></RetourCodes></Header>"
    )
    return f"{retour.name}_{identification}.xml", _document(retour, body)
