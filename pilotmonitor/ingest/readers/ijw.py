"""Read one iJw delivery: a ZIP per municipality and month holding iJw 3.2 XML messages.

Each ZIP member is one message (JW315, JW301, JW305, JW307 or JW323, typed from the XML
itself) giving rows for the raw ijw_* tables. Members are streamed, XSD-validated and
bounded by the parsing limits; BSNs and free-form references become keyed pseudonyms.
Entry points: ``iter_ijw_archive`` (parts) and ``read_ijw_archive``.

Design notes: docs/design/ingest.md#pilotmonitoringestreadersijwpy.
"""

from __future__ import annotations

import re
import sys
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import pandas as pd
from lxml import etree

from pilotmonitor.ingest import column_policy, identifier_forms
from pilotmonitor.ingest.bounded import (
    READ_CAP,
    SAFE_XML_OPTIONS,
    BoundedStream,
    LimitExceeded,
    archive_problem,
    file_problem,
    member_problem,
)
from pilotmonitor.ingest.bounded import release_element as _release
from pilotmonitor.ingest.contracts import (
    RAW_TABLES,
    DeliveryError,
    ReadResult,
    Rows,
    combine_parts,
    empty_quarantine,
    quarantine_rows,
    scrub_numbers,
)
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.limits import XML_MAX_DEPTH, ParseLimits, current_limits
from pilotmonitor.ingest.pseudonymise import Pseudonymiser

__all__ = [
    "BERICHTCODES",
    "IGNORED_TYPES",
    "MESSAGE_TYPES",
    "PART_ROWS",
    "iter_ijw_archive",
    "read_ijw_archive",
]

# iter_ijw_archive hands out a part once this many rows (loaded + quarantined) are buffered;
# a member larger than ParseLimits.whole_tree_bytes is split into parts of this many rows.
PART_ROWS = 50_000
# How far into a streamed member its root element and Header must appear, so the message
# type (and with it the schema to validate against while streaming) is known.
TYPE_PEEK_BYTES = 1 << 20

SOURCE_TABLE = "ijw_messages"  # target_table of members whose message type is unknown
PSEUDONYM_COLUMNS = ("client_pseudonym", "id_kind", "key_version")
MAX_DETAIL_CHARS = 400
MAX_SCHEMA_ERRORS = 3
MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class MessageType:
    name: str  # "JW315"
    code: str  # BerichtCode
    table: str  # raw table
    product: str | None  # product element of a trajectory message; None for JW323
    municipality_sends: bool = False  # JW301: Afzender is the municipality

    @property
    def namespace(self) -> str:
        return f"http://www.istandaarden.nl/ijw/3_2/{self.name.lower()}/schema"


# Every iJw 3.2 message type with its BerichtCode (code list COD002-VEKTIS). A municipal
# export holds them all: besides the five the warehouse reads, the retour messages (JW302,
# JW306, JW308, JW316, JW325) and the change requests and replies (JW317-JW320). Those are
# valid messages the warehouse does not use: counted per type (ReadResult.ignored), never
# quarantined.
BERICHTCODES: dict[str, str] = {
    "JW301": "436",
    "JW302": "437",
    "JW305": "438",
    "JW306": "439",
    "JW307": "440",
    "JW308": "441",
    "JW315": "446",
    "JW316": "447",
    "JW317": "486",
    "JW318": "487",
    "JW319": "488",
    "JW320": "489",
    "JW323": "490",
    "JW325": "491",
}

MESSAGE_TYPES: dict[str, MessageType] = {
    m.name: m
    for m in (
        MessageType("JW315", BERICHTCODES["JW315"], "ijw_requests", "AangevraagdProduct"),
        MessageType(
            "JW301",
            BERICHTCODES["JW301"],
            "ijw_allocations",
            "ToegewezenProduct",
            municipality_sends=True,
        ),
        MessageType("JW305", BERICHTCODES["JW305"], "ijw_starts", "StartProduct"),
        MessageType("JW307", BERICHTCODES["JW307"], "ijw_stops", "StopProduct"),
        MessageType("JW323", BERICHTCODES["JW323"], "ijw_declaration_lines", None),
    )
}
IGNORED_TYPES = frozenset(BERICHTCODES) - frozenset(MESSAGE_TYPES)
_BY_NAMESPACE = {m.namespace: m for m in MESSAGE_TYPES.values()}
_BY_CODE = {m.code: m for m in MESSAGE_TYPES.values()}
_IGNORED_BY_NAMESPACE = {
    f"http://www.istandaarden.nl/ijw/3_2/{name.lower()}/schema": name for name in IGNORED_TYPES
}
_IGNORED_BY_CODE = {BERICHTCODES[name]: name for name in IGNORED_TYPES}

# Elements the extraction reacts to (any namespace; the type is checked separately).
_EVENT_TAGS = tuple(
    f"{{*}}{name}"
    for name in (
        "Header",
        "Client",
        "Bsn",
        "Prestatie",
        "DeclaratieNummer",
        "DeclaratiePeriode",
        "DeclaratieDagtekening",
    )
)
_PARSER_OPTIONS: dict[str, Any] = SAFE_XML_OPTIONS


def _data_columns(table: str) -> list[str]:
    """RAW_TABLES columns minus the pseudonym trio, which must be adjacent (filled in last)."""
    columns = list(RAW_TABLES[table])
    start = columns.index(PSEUDONYM_COLUMNS[0])
    if tuple(columns[start : start + len(PSEUDONYM_COLUMNS)]) != PSEUDONYM_COLUMNS:
        raise RuntimeError(f"{table}: expected {', '.join(PSEUDONYM_COLUMNS)} as adjacent columns")
    return columns[:start] + columns[start + len(PSEUDONYM_COLUMNS) :]


_DATA_COLUMNS = {m.table: _data_columns(m.table) for m in MESSAGE_TYPES.values()}
_DATA_GETTERS = {table: itemgetter(*columns) for table, columns in _DATA_COLUMNS.items()}


# ---------------------------------------------------------------------------------------------
# Safe error texts
# ---------------------------------------------------------------------------------------------

_QUALIFIED_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^'{}]*)'")
# a namespace URI, not a pattern's {9} or a set
_NAMESPACE = re.compile(r"\{[^}\s']*[:/][^}\s']*\}")
_DIGIT_RUN = re.compile(r"\d{8,}")
_QUOTED_TEXT = re.compile(r"'[^']*'")
# libxml2 quotes both the delivered value and what the schema expected ("'2024-02-30' is
# not a valid value of the atomic type 'xs:date'", "[facet 'pattern'] The value '…' is not
# accepted by the pattern '[0-9]{9}'", "not an element of the set {'0', '1', '2'}"). Quoted
# text right after these words, or inside that set, comes from the schema and is kept, so
# a steward sees what was expected; any other quoted text is withheld.
_SCHEMA_WORD_BEFORE = re.compile(r"(?:type|pattern|facet|length of)\s*$")


# The delivered value in libxml2's usual sentences, matched up to the words that follow it,
# so an apostrophe inside the value (a name like O'Neill) cannot shift the quote pairs.
_DELIVERED_VALUE = re.compile(
    r"(?:(?<=The value )'.*?'(?= (?:is|has) )|'.*?'(?= is not a valid value))"
)


def _withhold_values(text: str) -> str:
    text = _DELIVERED_VALUE.sub("<value>", text)

    def replace(match: re.Match) -> str:
        before = text[: match.start()]
        in_set = before.rfind("the set {") > before.rfind("}")
        return match.group(0) if in_set or _SCHEMA_WORD_BEFORE.search(before) else "'…'"

    return _QUOTED_TEXT.sub(replace, text)


def safe_detail(text: str) -> str:
    """An error text without values from the message: element names and what the schema
    expected stay, delivered values go (and any long digit run, wherever it stands)."""
    text = _QUALIFIED_ELEMENT.sub(r"element \1", str(text))
    text = _NAMESPACE.sub("", text)
    text = _DIGIT_RUN.sub("<number>", scrub_numbers(_withhold_values(text)))
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Archive access
# ---------------------------------------------------------------------------------------------

# What zipfile/zlib raise on a damaged archive or member.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


class _CorruptArchive(Exception):
    """Raised from inside member reads, so it passes through lxml unchanged."""


class _GuardedStream:
    """A member stream whose decompression errors become _CorruptArchive."""

    def __init__(self, stream: IO[bytes], member: str):
        self._stream = stream
        self._member = member

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _ARCHIVE_ERRORS as exc:
            raise _CorruptArchive(
                f"member {self._member} cannot be decompressed "
                f"({safe_detail(f'{type(exc).__name__}: {exc}')})"
            ) from exc


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise DeliveryError(path, "no such file")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DeliveryError(path, f"not a readable ZIP archive ({exc})") from None
    except _ARCHIVE_ERRORS as exc:
        raise DeliveryError(path, f"corrupt ZIP archive ({type(exc).__name__}: {exc})") from None


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    try:
        return archive.open(info)
    except _ARCHIVE_ERRORS as exc:
        raise _CorruptArchive(
            f"member {info.filename} cannot be opened "
            f"({safe_detail(f'{type(exc).__name__}: {exc}')})"
        ) from exc


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# longer cannot be a BIGINT (and int() of a huge string is slow)
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


@lru_cache(maxsize=8192)
def _parse_date(text: str) -> date | None:
    """YYYY-MM-DD (LDT_Datum allows no time zone); None when it is not a real date."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_integer(text: str) -> int | None:
    """An xs:integer that fits a BIGINT; None otherwise."""
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if -MAX_BIGINT <= value <= MAX_BIGINT else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str | None:
    """The namespace URI of a Clark-notation tag (no etree.QName: it rejects odd URIs)."""
    return tag[1:].rpartition("}")[0] if tag.startswith("{") else None


Children = dict[str, Any]  # local name -> lxml element


def _children(element: Any) -> Children:
    """Direct child elements by local name (the last one wins on repeats)."""
    if element is None:
        return {}
    return {child.tag.rpartition("}")[2]: child for child in element.iterchildren(etree.Element)}


def _text(children: Children, name: str) -> str | None:
    element = children.get(name)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _code(children: Children, name: str) -> str | None:
    """A short code value; interned, since the same codes repeat on every line."""
    value = _text(children, name)
    return sys.intern(value) if value is not None else None


Texts = dict[str, str | None]  # local name -> raw text


def _descendant_texts(element: Any) -> Texts:
    """Raw text of every descendant element by local name, in one pass.

    Only for elements without personal data whose descendants have distinct local names
    (a JW323 Prestatie); with an invalid structure the last occurrence wins.
    """
    return {
        child.tag.rpartition("}")[2]: child.text for child in element.iterdescendants(etree.Element)
    }


def _value(texts: Texts, name: str) -> str | None:
    text = texts.get(name)
    return (text.strip() or None) if text is not None else None


def _code_value(texts: Texts, name: str) -> str | None:
    value = _value(texts, name)
    return sys.intern(value) if value is not None else None


class _Row:
    """Converts the text values of one row, remembering the first problem found."""

    __slots__ = ("problem",)

    def __init__(self, problem: tuple[str, str] | None = None):
        self.problem = problem

    def _flag(self, code: str, detail: str) -> None:
        if self.problem is None:
            self.problem = (code, detail)

    def required(self, value: str | None, element: str) -> str | None:
        if value is None:
            self._flag("missing_field", f"element {element} is missing or empty")
        return value

    def day(self, value: str | None, element: str, required: bool = False) -> date | None:
        return self._parsed(value, element, required, _parse_date, "invalid_date")

    def month(self, value: str | None, element: str) -> date | None:
        parsed = self.day(value, element, required=True)
        return parsed.replace(day=1) if parsed is not None else None

    def number(self, value: str | None, element: str, required: bool = False) -> int | None:
        return self._parsed(value, element, required, _parse_integer, "invalid_number")

    def _parsed(
        self,
        value: str | None,
        element: str,
        required: bool,
        parse: Callable[[str], Any],
        code: str,
    ) -> Any:
        """``parse(value)``, flagged as ``code`` when it does not parse; a missing value is
        flagged only when required."""
        if value is None:
            return self.required(value, element) if required else None
        parsed = parse(value)
        if parsed is None:
            self._flag(code, f"element {element}")
        return parsed

    def one_of(self, value: str | None, allowed: frozenset[str], element: str) -> str | None:
        if self.required(value, element) is not None and value not in allowed:
            self._flag("invalid_code", f"element {element}")
        return value


# ---------------------------------------------------------------------------------------------
# Extraction per message type (only whitelisted elements are read)
# ---------------------------------------------------------------------------------------------


_HEADER_COLUMNS = ("message_id", "provider_agb", "municipality_code", "message_date")


def _header_values(header: Any, kind: MessageType) -> tuple[dict[str, Any], tuple[str, str] | None]:
    children = _children(header)
    ident = _children(children.get("BerichtIdentificatie"))
    row = _Row()
    sender, receiver = _code(children, "Afzender"), _code(children, "Ontvanger")
    provider, municipality = (receiver, sender) if kind.municipality_sends else (sender, receiver)
    values = {
        "message_id": row.required(
            _text(ident, "Identificatie"), "BerichtIdentificatie/Identificatie"
        ),
        "provider_agb": row.required(
            provider, "Ontvanger" if kind.municipality_sends else "Afzender"
        ),
        "municipality_code": row.required(
            municipality, "Afzender" if kind.municipality_sends else "Ontvanger"
        ),
        "message_date": row.day(
            _text(ident, "Dagtekening"), "BerichtIdentificatie/Dagtekening", required=True
        ),
    }
    return values, row.problem


def _client_values(client: Children, row: _Row) -> dict[str, Any]:
    birth = _children(client.get("Geboortedatum"))
    return {
        "birth_month": row.month(_text(birth, "Datum"), "Geboortedatum/Datum"),
        "sex": row.required(_code(client, "Geslacht"), "Geslacht"),
    }


def _product_values(product: Children) -> dict[str, Any]:
    codes = _children(product.get("Product"))
    return {"product_category": _code(codes, "Categorie"), "product_code": _code(codes, "Code")}


def _volume_values(product: Children, row: _Row) -> dict[str, Any]:
    extent = _children(product.get("Omvang"))
    return {
        "volume": row.number(_text(extent, "Volume"), "Omvang/Volume"),
        "unit": _code(extent, "Eenheid"),
        "frequency": _code(extent, "Frequentie"),
    }


def _jw315_values(product: Children, row: _Row) -> dict[str, Any]:
    referrer = _children(product.get("Verwijzer"))  # only Type: never Naam or ZorgverlenerCode
    return {
        "provider_reference": row.required(
            _text(product, "ReferentieAanbieder"), "ReferentieAanbieder"
        ),
        **_product_values(product),
        "requested_start": row.day(
            _text(product, "ToewijzingIngangsdatum"), "ToewijzingIngangsdatum", required=True
        ),
        "requested_end": row.day(_text(product, "ToewijzingEinddatum"), "ToewijzingEinddatum"),
        **_volume_values(product, row),
        "referrer_type": row.required(_code(referrer, "Type"), "Verwijzer/Type"),
    }


def _jw301_values(product: Children, row: _Row) -> dict[str, Any]:
    return {
        "allocation_number": row.required(_text(product, "ToewijzingNummer"), "ToewijzingNummer"),
        "provider_reference": _text(product, "ReferentieAanbieder"),
        **_product_values(product),
        "allocation_date": row.day(
            _text(product, "Toewijzingsdatum"), "Toewijzingsdatum", required=True
        ),
        "allocation_start": row.day(_text(product, "Ingangsdatum"), "Ingangsdatum", required=True),
        "allocation_end": row.day(_text(product, "Einddatum"), "Einddatum"),
        **_volume_values(product, row),
        "budget_cents": row.number(_text(product, "Budget"), "Budget"),
    }


def _jw305_values(product: Children, row: _Row) -> dict[str, Any]:
    return {
        "allocation_number": _text(product, "ToewijzingNummer"),
        **_product_values(product),
        "start_date": row.day(_text(product, "Begindatum"), "Begindatum", required=True),
    }


def _jw307_values(product: Children, row: _Row) -> dict[str, Any]:
    return {
        "allocation_number": _text(product, "ToewijzingNummer"),
        **_product_values(product),
        "start_date": row.day(_text(product, "Begindatum"), "Begindatum", required=True),
        "end_date": row.day(_text(product, "Einddatum"), "Einddatum", required=True),
        "end_reason": row.required(_code(product, "RedenBeeindiging"), "RedenBeeindiging"),
    }


_PRODUCT_EXTRACTORS = {
    "JW315": _jw315_values,
    "JW301": _jw301_values,
    "JW305": _jw305_values,
    "JW307": _jw307_values,
}
_DEBIT_CREDIT = frozenset({"D", "C"})


def _declaration_values(parts: Children, row: _Row) -> dict[str, Any]:
    period = _children(parts.get("DeclaratiePeriode"))
    return {
        "declaration_number": row.required(_text(parts, "DeclaratieNummer"), "DeclaratieNummer"),
        "declaration_date": row.day(
            _text(parts, "DeclaratieDagtekening"), "DeclaratieDagtekening", required=True
        ),
        "period_start": row.day(
            _text(period, "Begindatum"), "DeclaratiePeriode/Begindatum", required=True
        ),
        "period_end": row.day(
            _text(period, "Einddatum"), "DeclaratiePeriode/Einddatum", required=True
        ),
    }


def _line_values(line: Any, row: _Row) -> dict[str, Any]:
    texts = _descendant_texts(line)  # a Prestatie holds no personal data
    return {
        "product_reference": row.required(
            _value(texts, "ReferentieNummer"), "ProductReferentie/ReferentieNummer"
        ),
        "previous_product_reference": _value(texts, "VorigReferentieNummer"),
        "allocation_number": row.required(
            _code_value(texts, "ToewijzingNummer"), "ToewijzingNummer"
        ),
        "product_category": row.required(
            _code_value(texts, "ProductCategorie"), "ProductCategorie"
        ),
        "product_code": row.required(_code_value(texts, "ProductCode"), "ProductCode"),
        "product_period_start": row.day(
            _value(texts, "Begindatum"), "ProductPeriode/Begindatum", required=True
        ),
        "product_period_end": row.day(
            _value(texts, "Einddatum"), "ProductPeriode/Einddatum", required=True
        ),
        "volume": row.number(_value(texts, "GeleverdVolume"), "GeleverdVolume", required=True),
        "unit": row.required(_code_value(texts, "Eenheid"), "Eenheid"),
        "tariff_cents": row.number(_value(texts, "ProductTarief"), "ProductTarief"),
        "amount_cents": row.number(
            _value(texts, "Bedrag"), "IngediendBedrag/Bedrag", required=True
        ),
        "debit_credit": row.one_of(
            _code_value(texts, "DebetCredit"), _DEBIT_CREDIT, "IngediendBedrag/DebetCredit"
        ),
    }


# ---------------------------------------------------------------------------------------------
# One member
# ---------------------------------------------------------------------------------------------


class _MemberRejected(Exception):
    """The member goes to quarantine: one row per product (line) it carries, at least one."""

    def __init__(self, reason_code: str, detail: str, table: str = SOURCE_TABLE, products: int = 0):
        super().__init__(detail)
        self.reason_code = reason_code
        self.detail = safe_detail(detail)
        self.table = table
        self.products = products


class _MemberIgnored(Exception):
    """A valid iJw message of a type the warehouse does not use (e.g. a retour message)."""

    def __init__(self, message_type: str):
        super().__init__(message_type)
        self.message_type = message_type


def detect_type(root: Any, header: Any | None = None) -> MessageType | None:
    """The message type from the root namespace, else from Header/BerichtCode.

    Raises _MemberIgnored for an iJw 3.2 message type the warehouse does not read."""
    namespace = _namespace(root.tag)
    if namespace in _BY_NAMESPACE:
        return _BY_NAMESPACE[namespace]
    if namespace in _IGNORED_BY_NAMESPACE:
        raise _MemberIgnored(_IGNORED_BY_NAMESPACE[namespace])
    if header is None:
        header = next(
            (
                child
                for child in root
                if isinstance(child.tag, str) and _local(child.tag) == "Header"
            ),
            None,
        )
    code = _text(_children(header), "BerichtCode") if header is not None else None
    if code in _IGNORED_BY_CODE:
        raise _MemberIgnored(_IGNORED_BY_CODE[code])
    return _BY_CODE.get(code) if code else None


def _unknown_type(root: Any) -> _MemberRejected:
    namespace = _namespace(root.tag) or "none"
    return _MemberRejected(
        "schema_invalid",
        f"unknown message type (root element {_local(root.tag)[:60]}, namespace {namespace[:120]})",
    )


@dataclass
class _MemberExtraction:
    """State while the events of one member are consumed; rows are buffered per member."""

    member: str
    kind: MessageType
    header: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(_HEADER_COLUMNS))
    # until on_header
    header_problem: tuple[str, str] | None = ("missing_field", "element Header is missing")
    declaration: dict[str, Any] | None = None
    declaration_parts: Children = field(default_factory=dict)
    declaration_problem: tuple[str, str] | None = None
    bsn: str | None = None
    rows: list[tuple] = field(default_factory=list)
    line_number: int = 0
    products: int = 0  # products of a trajectory message so far, over all its clients

    def handle(self, name: str, element: Any) -> bool:
        """Process one ended element; True when it may be released."""
        if name == "Header":
            self.header, self.header_problem = _header_values(element, self.kind)
        elif name == "Client":
            self.on_client(element)
        elif self.kind.product is not None:
            return False  # Bsn inside a trajectory Client: read at the Client's end
        elif name == "Bsn":
            self.bsn = _text({"Bsn": element}, "Bsn")
        elif name == "Prestatie":
            self.on_line(element)
        else:  # DeclaratieNummer, DeclaratiePeriode, DeclaratieDagtekening
            self.declaration_parts[name] = element
            return False  # still needed when the first line arrives
        return True

    def _declaration(self) -> tuple[dict[str, Any], tuple[str, str] | None]:
        if self.declaration is None:
            row = _Row()
            self.declaration = _declaration_values(self.declaration_parts, row)
            self.declaration_problem = row.problem
            self.declaration_parts = {}
        return self.declaration, self.declaration_problem

    def on_line(self, line: Any) -> None:
        self.line_number += 1
        declaration, declaration_problem = self._declaration()
        row = _Row(self.header_problem or declaration_problem)
        values = {**self.header, **declaration, **_line_values(line, row)}
        self._add(values, f"{self.member}#line{self.line_number}", self.bsn, row)

    def on_client(self, client: Any) -> None:
        if self.kind.product is None:
            self.bsn = None  # JW323: the lines were taken at their own end events
            return
        children = _children(client)
        extract = _PRODUCT_EXTRACTORS[self.kind.name]
        for product in client.iter(f"{{*}}{self.kind.product}"):
            self.products += 1
            row = _Row(self.header_problem)
            values = {
                **self.header,
                **_client_values(children, row),
                **extract(_children(product), row),
            }
            self._add(values, f"{self.member}#{self.products}", _text(children, "Bsn"), row)

    def finish(self) -> None:
        """A message with a single product is located by its member name alone."""
        if self.products == 1 and len(self.rows) == 1:
            row = self.rows[0]
            self.rows[0] = (*row[:_LOCATOR], self.member, *row[_LOCATOR + 1 :])

    def _add(self, values: dict[str, Any], locator: str, bsn: str | None, row: _Row) -> None:
        code, detail = row.problem or (None, None)
        self.rows.append((*_DATA_GETTERS[self.kind.table](values), locator, bsn, code, detail))


def _consume(
    events: Iterable[tuple[str, Any]],
    member: str,
    kind: MessageType | None,
    streaming: bool,
    batch_rows: int | None,
) -> Iterator[tuple[MessageType, list[tuple]]]:
    """Buffered rows of one member: every ``batch_rows`` rows when given, the rest at the end."""
    state: _MemberExtraction | None = None
    for _, element in events:
        name = _local(element.tag)
        if state is None:
            root = element.getroottree().getroot()
            kind = kind or detect_type(root, element if name == "Header" else None)
            if kind is None:
                raise _unknown_type(root)
            state = _MemberExtraction(member, kind)
        if state.handle(name, element) and streaming:
            _release(element)
        if batch_rows is not None and len(state.rows) >= batch_rows:
            rows, state.rows = state.rows, []
            yield state.kind, rows
    if state is None:
        raise _MemberRejected(
            "schema_invalid", "unknown message type (no iJw header or client element)"
        )
    state.finish()
    yield state.kind, state.rows


@lru_cache(maxsize=64)
def _schema(schema_dir: Path, message: str) -> etree.XMLSchema:
    path = schema_dir / f"{message}.xsd"
    if not path.is_file():
        raise FileNotFoundError(f"iJw XSD {path} not found (schema directory {schema_dir})")
    return etree.XMLSchema(etree.parse(str(path)))


@lru_cache(maxsize=64)
def schema_for(schema_dir: Path, message: str) -> etree.XMLSchema:
    """The compiled XSD of one message type, cached across calls (also the directory's
    resolution: a path resolve per member cost more than its validation)."""
    return _schema(Path(schema_dir).resolve(), message)


def _validate(tree: Any, kind: MessageType, schema_dir: Path) -> None:
    schema = schema_for(schema_dir, kind.name)
    try:
        valid = schema.validate(tree)
    except etree.XMLSchemaValidateError as exc:  # e.g. unresolved entity references
        raise _MemberRejected(
            "schema_invalid", f"the validator cannot process the document ({exc})", kind.table
        ) from None
    if not valid:
        errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:MAX_SCHEMA_ERRORS]]
        products = sum(1 for _ in tree.iter(f"{{*}}{kind.product or 'Prestatie'}"))
        raise _MemberRejected(
            "schema_invalid", f"{kind.name}: " + "; ".join(errors), kind.table, products
        )


class _Replay:
    """The bytes already read to find the message type, then the rest of the stream."""

    def __init__(self, head: bytes, stream: Any):
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            block, self._head = (
                (self._head, b"")
                if size is None or size < 0
                else (self._head[:size], self._head[size:])
            )
            return block
        return self._stream.read(size)


def _peek_type(stream: Any) -> tuple[MessageType, bytes]:
    """The message type from the start of a member (root namespace, else BerichtCode),
    and the bytes read to find it, so the member can be validated while streaming."""
    parser = etree.XMLPullParser(events=("start", "end"), **_PARSER_OPTIONS)
    head: list[bytes] = []
    root = header = None
    read = 0
    while read < TYPE_PEEK_BYTES:
        block = stream.read(1 << 16)
        if not block:
            break
        head.append(block)
        read += len(block)
        parser.feed(block)
        for event, element in parser.read_events():
            if root is None:
                root = element
            if event == "end" and _local(element.tag) == "Header" and element.getparent() is root:
                header = element
        if header is not None or (root is not None and _namespace(root.tag) in _BY_NAMESPACE):
            break
    if root is None:
        raise _MemberRejected("schema_invalid", f"no root element in the first {read:,} bytes")
    kind = detect_type(root, header)
    if kind is None:
        raise _unknown_type(root)
    return kind, b"".join(head)


# lxml's iterparse keeps one error log across parses (an exception's error_log lists
# earlier documents' errors too), so only the exception's own message is used here.
def _syntax_rejection(exc: etree.XMLSyntaxError, table: str = SOURCE_TABLE) -> _MemberRejected:
    """A parse error: a limit of libxml2 itself (huge_tree off), or not well-formed XML."""
    text = str(exc)
    if "Excessive depth" in text:
        return _MemberRejected(
            "limit_exceeded",
            f"elements nested deeper than {XML_MAX_DEPTH} (the XML parser's own limit)",
            table,
        )
    if "XML_PARSE_HUGE" in text or "huge text node" in text:
        return _MemberRejected(
            "limit_exceeded",
            "over a limit of the XML parser ("
            + re.split(r",? (?:use|try) XML_PARSE_HUGE", text)[0]
            + ")",
            table,
        )
    return _MemberRejected("schema_invalid", f"not well-formed XML: {text}", table)


def _streaming_error(
    exc: etree.XMLSyntaxError, kind: MessageType, products: int
) -> _MemberRejected:
    """A validating parse stops on either kind of error; say which it was (libxml2's
    schema errors name the element first)."""
    text = str(exc)
    if text.startswith("Element '"):
        return _MemberRejected("schema_invalid", f"{kind.name}: {text}", kind.table, products)
    return _syntax_rejection(exc, kind.table)


def _validate_streaming(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, schema_dir: Path, limits: ParseLimits
) -> None:
    """Validate a large member against its XSD in one streaming pass, before any of its
    rows is read, so an invalid member is quarantined whole like a small one.

    lxml's validating iterparse reports a schema error only when the parse ends, so the
    rows cannot be taken in the same pass; Client and Prestatie elements are released as
    they end, so memory stays flat. It also accepts a document cut off after a complete
    element, so the root element's end is required here.
    """
    kind: MessageType | None = None
    products = 0
    with _open_member(archive, info) as raw:
        stream = _GuardedStream(
            BoundedStream(raw, f"member {info.filename}", limits, limits.member_bytes),
            info.filename,
        )
        try:
            kind, head = _peek_type(stream)
            counted = kind.product or "Prestatie"
            tags = ("{*}Client", "{*}Prestatie", f"{{*}}{counted}", f"{{{kind.namespace}}}Bericht")
            closed = False
            for _, element in etree.iterparse(
                _Replay(head, stream),
                events=("end",),
                tag=tags,
                schema=schema_for(schema_dir, kind.name),
                **_PARSER_OPTIONS,
            ):
                name = _local(element.tag)
                if element.getparent() is None:
                    closed = True
                    continue
                products += name == counted
                if name in ("Client", "Prestatie"):
                    _release(element)
        except etree.XMLSyntaxError as exc:
            if kind is None:
                raise _syntax_rejection(exc) from None
            raise _streaming_error(exc, kind, products) from None
    if not closed:
        raise _MemberRejected(
            "schema_invalid",
            "not well-formed XML: the document ends before its root element is closed (truncated?)",
            kind.table,
            products,
        )


def _member_events(
    stream: Any, schema_dir: Path | None, whole: bool
) -> tuple[Iterator[tuple[str, Any]], MessageType | None, bool]:
    """Parse events of one member: whole-tree (validated) or streamed (a large member
    was validated by _validate_streaming before)."""
    if schema_dir is None or not whole:
        return (
            etree.iterparse(stream, events=("end",), tag=_EVENT_TAGS, **_PARSER_OPTIONS),
            None,
            True,
        )
    # read whole, then parsed in one call: lxml pulling a member through the stream made a
    # Python read per block (a demo member, 2.4 KB: 110-116 us read and parsed, 90-104 us
    # whole)
    blocks = []
    while block := stream.read(READ_CAP):
        blocks.append(block)
    root = etree.fromstring(b"".join(blocks), etree.XMLParser(**_PARSER_OPTIONS))
    tree = root.getroottree()
    kind = detect_type(root)
    if kind is None:
        raise _unknown_type(root)
    _validate(tree, kind, schema_dir)
    return etree.iterwalk(tree, events=("end",), tag=_EVENT_TAGS), kind, False


def _read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    schema_dir: Path | None,
    whole: bool,
    batch_rows: int | None,
    limits: ParseLimits,
) -> Iterator[tuple[MessageType, list[tuple]]]:
    """Row batches of one member (one batch unless ``batch_rows`` is given).

    Raises _MemberRejected (possibly after some batches) when the member cannot be used,
    LimitExceeded when it crosses a parsing limit while being read.
    """
    if schema_dir is not None and not whole:
        _validate_streaming(archive, info, schema_dir, limits)
    total = 0
    kind: MessageType | None = None
    with _open_member(archive, info) as raw:
        stream = _GuardedStream(
            BoundedStream(raw, f"member {info.filename}", limits, limits.member_bytes),
            info.filename,
        )
        try:
            events, kind, streaming = _member_events(stream, schema_dir, whole)
            for kind, rows in _consume(events, info.filename, kind, streaming, batch_rows):
                total += len(rows)
                if rows:
                    yield kind, rows
        except etree.XMLSyntaxError as exc:
            raise _syntax_rejection(exc) from None
    if not total:
        assert kind is not None
        what = kind.product or "Prestatie"
        raise _MemberRejected(
            "missing_field", f"{kind.name} without any {what} element", kind.table
        )


# ---------------------------------------------------------------------------------------------
# Assembling the result
# ---------------------------------------------------------------------------------------------

# A buffered row is (*data columns, row_locator, bsn text, problem code, problem detail).
_LOCATOR, _BSN, _PROBLEM, _DETAIL = -4, -3, -2, -1


@dataclass
class _Collected:
    rows: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    # locator, table, code, detail
    rejected: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # message type -> members not used

    def reject(self, member: str, rejected: _MemberRejected) -> None:
        """Quarantine a whole member: a row per product (line) it carries, at least one."""
        if rejected.products <= 1:
            self.rejected.append((member, rejected.table, rejected.reason_code, rejected.detail))
            return
        detail = f"{rejected.detail} (one of the {rejected.products} products of this message)"
        self.rejected.extend(
            (f"{member}#{number}", rejected.table, rejected.reason_code, detail)
            for number in range(1, rejected.products + 1)
        )

    @property
    def rows_read(self) -> int:
        return sum(len(rows) for rows in self.rows.values()) + len(self.rejected)


@dataclass(frozen=True)
class _Identity:
    pseudonym: str | None
    id_kind: str | None
    key_version: str
    error: str | None


def _identities(collected: _Collected, pseudonymiser: Pseudonymiser) -> dict[str | None, _Identity]:
    """The identity of every distinct delivered BSN text of the part (None: rows without a
    Bsn element, missing_identifier), identified once per reading process: a client recurs
    in the archives of every month of a trajectory."""
    if not any(collected.rows.values()):
        return {}
    cache = pseudonymiser.remembered("ijw_bsn")
    distinct = {row[_BSN] for rows in collected.rows.values() for row in rows}
    distinct.add(None)
    todo = [bsn for bsn in distinct if bsn not in cache]
    cache.update(
        (bsn, _Identity(*values)) for bsn, values in zip(todo, pseudonymiser.identify_many(todo))
    )
    return {bsn: cache[bsn] for bsn in distinct}


def _row_problem(
    row: tuple, identity: _Identity, known_product_codes: set[str] | None, code_position: int
) -> tuple[str, str] | None:
    """Why a row goes to quarantine (identifier first, then conversion, then product code)."""
    if identity.error is not None:
        return identity.error, "element Bsn"
    if row[_PROBLEM] is not None:
        return row[_PROBLEM], row[_DETAIL]
    product_code = row[code_position]
    if (
        known_product_codes is not None
        and product_code is not None
        and product_code not in known_product_codes
    ):
        return "unknown_product_code", f"ProductCode {safe_detail(product_code)}"
    return None


def _route(
    table: str,
    rows: list[tuple],
    identities: dict[str | None, _Identity],
    known_product_codes: set[str] | None,
    reference: Callable[[str | None], str | None],
) -> tuple[list[tuple], dict[str, list[tuple[str, str, str | None]]]]:
    """Split buffered rows into output rows (RAW_TABLES order + row_locator) and quarantine;
    free-form references are replaced by their pseudonyms, member names in locators lose
    identifier-like numbers.

    Works in place (each buffered row is replaced by its output row), so a large declaration
    is never held twice; ``rows`` is emptied.
    """
    code_position = _DATA_COLUMNS[table].index("product_code")
    split = list(RAW_TABLES[table]).index(PSEUDONYM_COLUMNS[0])  # where the pseudonym columns go
    reference_columns = column_policy.columns_of(column_policy.REFERENCE, RAW_TABLES[table])
    references = [i for i, column in enumerate(RAW_TABLES[table]) if column in reference_columns]
    locator_at = len(RAW_TABLES[table])
    quarantined: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    keep = 0
    for position, row in enumerate(rows):
        identity = identities[row[_BSN]]
        problem = _row_problem(row, identity, known_product_codes, code_position)
        if problem is None:
            out = [
                *row[:split],
                identity.pseudonym,
                identity.id_kind,
                identity.key_version,
                *row[split:_BSN],
            ]
            for at in references:
                out[at] = reference(out[at])
            out[locator_at] = _locator(out[locator_at])
            rows[keep] = tuple(out)
            keep += 1
        else:
            quarantined[problem[0]].append(
                (_locator(row[_LOCATOR]), problem[1] or "", identity.pseudonym)
            )
            rows[position] = ()  # release it now; overwritten or cut off below
    loaded = rows[:keep]
    rows.clear()
    return loaded, quarantined


def _locator(locator: str) -> str:
    """A locator ``<member>[#<position>]`` with identifier-like numbers withheld from the
    member name (the sender chose it; a position is ours)."""
    member, hash_sign, position = locator.partition("#")
    return _member_name(member) + hash_sign + position


@lru_cache(maxsize=4096)
def _member_name(member: str) -> str:
    return identifier_forms.withhold(member)


_EMPTY_QUARANTINE = empty_quarantine()


def _quarantine_frame(
    collected: _Collected,
    routed: dict[str, dict[str, list[tuple[str, str, str | None]]]],
    key_version: str,
) -> pd.DataFrame:
    whole_members: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for locator, table, code, detail in collected.rejected:
        whole_members[table, code, detail].append(_locator(locator))
    frames = [
        quarantine_rows(locators, table, code, detail)
        for (table, code, detail), locators in whole_members.items()
    ]
    for table, by_code in routed.items():
        for code, entries in by_code.items():
            locators, details, pseudonyms = zip(*entries)
            frames.append(
                quarantine_rows(
                    list(locators), table, code, list(details), list(pseudonyms), key_version
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else _EMPTY_QUARANTINE.copy()


def _other_municipality_rows(tables: dict[str, Rows], delivery: Delivery) -> int:
    """Loaded rows naming a municipality other than the sender (0 unless the sender is a GM)."""
    if not delivery.sender.upper().startswith("GM"):
        return 0
    expected = delivery.sender.upper().removeprefix("GM")
    total = 0
    for table in tables.values():
        at = list(RAW_TABLES[table.table]).index("municipality_code")
        total += sum(1 for row in table.rows if row[at] != expected)
    return total


def _assemble(
    collected: _Collected, pseudonymiser: Pseudonymiser, known_product_codes: set[str] | None
) -> ReadResult:
    """One part from the buffered rows (the buffers are emptied)."""
    identities = _identities(collected, pseudonymiser)
    # a reference recurs over a trajectory's messages
    reference = lru_cache(maxsize=65536)(pseudonymiser.reference)
    rows_read = collected.rows_read  # before _route empties the row buffers
    tables: dict[str, Rows] = {}
    routed: dict[str, dict[str, list[tuple[str, str, str | None]]]] = {}
    for kind in MESSAGE_TYPES.values():
        loaded, routed[kind.table] = _route(
            kind.table,
            collected.rows.get(kind.table, []),
            identities,
            known_product_codes,
            reference,
        )
        tables[kind.table] = Rows(kind.table, loaded)
    quarantine = _quarantine_frame(collected, routed, pseudonymiser.key_version)
    notes = [identifier_forms.withhold(note) for note in collected.notes]  # they name members
    result = ReadResult(
        tables=tables,
        quarantine=quarantine,
        rows_read=rows_read,
        notes=notes,
        ignored=dict(collected.ignored),
    )
    result.check_accounting()
    return result


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def iter_ijw_archive(
    path: Path,
    delivery: Delivery,
    pseudonymiser: Pseudonymiser,
    schema_dir: Path | None,
    known_product_codes: set[str] | None,
    *,
    part_rows: int | None = None,
) -> Iterator[ReadResult]:
    """Read one iJw ZIP delivery as ReadResult parts (see "Parts" in the module's design notes).

    Same parameters as read_ijw_archive; ``part_rows`` overrides PART_ROWS. Raises
    DeliveryError (possibly after some parts) when the file is not a readable ZIP archive.
    """
    path = Path(path)
    limits = current_limits()
    part_rows = PART_ROWS if part_rows is None else part_rows
    if part_rows < 1:
        raise ValueError("part_rows must be at least 1")
    pending = _Collected()
    other_municipality = 0
    if schema_dir is None:
        pending.notes.append("XSD validation skipped: no iJw schema directory given")

    def flush() -> ReadResult:
        nonlocal pending, other_municipality
        part = _assemble(pending, pseudonymiser, known_product_codes)
        other_municipality += _other_municipality_rows(part.tables, delivery)
        pending = _Collected()
        return part

    if (too_large := file_problem(path, limits)) is not None:
        raise DeliveryError(path, too_large.reason)
    with _open_archive(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if (too_large := archive_problem(members, limits)) is not None:
            raise DeliveryError(path, too_large.reason)
        for info in members:
            if (
                over := member_problem(info, limits)
            ) is not None:  # refused before a byte is inflated
                pending.rejected.append(
                    (info.filename, SOURCE_TABLE, "limit_exceeded", safe_detail(over.reason))
                )
                continue
            # Members up to whole_tree_bytes are parsed and validated whole and never
            # split; larger ones are validated while streaming and split into parts.
            whole = info.file_size <= limits.whole_tree_bytes
            chunked = not whole
            # rows of this member received so far (all already handed out in parts when chunked)
            yielded = 0
            kind: MessageType | None = None
            try:
                for kind, rows in _read_member(
                    archive, info, schema_dir, whole, part_rows if chunked else None, limits
                ):
                    yielded += len(rows)
                    pending.rows[kind.table].extend(rows)
                    del rows
                    if chunked and pending.rows_read >= part_rows:
                        yield flush()
            except _MemberRejected as rejected:
                if yielded and kind is not None:  # a chunked member broke after some of its parts
                    detail = safe_detail(
                        f"{rejected.detail}; broke after row {yielded} of the member: rows "
                        f"1-{yielded} were loaded, the rest from row {yielded + 1} on is "
                        "discarded"
                    )
                    pending.rejected.append(
                        (info.filename, kind.table, rejected.reason_code, detail)
                    )
                else:
                    pending.reject(info.filename, rejected)
            except LimitExceeded as over:
                detail = (
                    over.reason
                    if not yielded
                    else (
                        f"{over.reason}; rows 1-{yielded} of the member were loaded, the rest is "
                        "discarded"
                    )
                )
                pending.rejected.append(
                    (
                        info.filename,
                        kind.table if yielded and kind is not None else SOURCE_TABLE,
                        "limit_exceeded",
                        safe_detail(detail),
                    )
                )
            except _MemberIgnored as ignored:
                pending.ignored[ignored.message_type] += 1
            except _CorruptArchive as exc:
                raise DeliveryError(path, str(exc)) from None
            if pending.rows_read >= part_rows:
                yield flush()
    last = flush()
    if other_municipality:
        last.notes.append(
            f"{other_municipality} loaded row(s) name a municipality other than the sender "
            f"{delivery.sender}"
        )
    yield last


def read_ijw_archive(
    path: Path,
    delivery: Delivery,
    pseudonymiser: Pseudonymiser,
    schema_dir: Path | None,
    known_product_codes: set[str] | None,
) -> ReadResult:
    """Read one iJw ZIP delivery into the five iJw raw tables plus quarantine rows.

    ``schema_dir`` holds JW301.xsd ... JW323.xsd and basisschema.xsd; None skips XSD
    validation (noted in the result). ``known_product_codes`` None skips the product check.
    Raises DeliveryError when the file is not a readable ZIP archive. All parts of
    iter_ijw_archive combined into one result.
    """
    result = combine_parts(
        iter_ijw_archive(path, delivery, pseudonymiser, schema_dir, known_product_codes)
    )
    result.check_accounting()
    return result
