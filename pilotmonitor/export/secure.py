"""The SECURE export: the published marts as files, inside the secure environment.

``export_marts(warehouse_path, out_dir)`` writes one file per mart (Parquet or CSV), a
data dictionary (``data_dictionary.md`` and ``data_dictionary.json``, from the dbt
documentation) and ``manifest.json`` (row counts and sha256 per file, the publication
run the tables come from, where the dictionary came from).

The files hold row-level data with pupil pseudonyms: they are for researchers working
*inside* the secure environment. Nothing written here may leave it; what leaves goes
through :func:`pilotmonitor.export.release.export_release` (disclosure control).

The warehouse is opened read-only (``duckdb.connect(path, read_only=True)``), so the
export never takes the pipeline's write lock and never changes the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pilotmonitor import atomic_write
from pilotmonitor.publication.gate import GATE_TABLES
from pilotmonitor.spreadsheet_safety import count_sql, neutralised_sql
from pilotmonitor.table_digest import quote as _quote
from pilotmonitor.table_digest import tables_in
from pilotmonitor.warehouse_access import sql_string

from .dictionary import MartDocs, TableDoc, load_mart_docs

FORMATS = {"parquet": ".parquet", "csv": ".csv"}
DEFAULT_SCHEMA = "published"
# Tables in `published` that are bookkeeping, not marts (exported only when asked for).
NON_MART_TABLES = GATE_TABLES
MANIFEST_NAME = "manifest.json"
DICTIONARY_MD = "data_dictionary.md"
DICTIONARY_JSON = "data_dictionary.json"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 1 << 20


class ExportError(RuntimeError):
    """The export cannot run (base class)."""


class WarehouseNotFoundError(ExportError, FileNotFoundError):
    """No warehouse file at the given path."""


class SchemaNotFoundError(ExportError):
    """The schema does not exist in the warehouse (e.g. nothing published yet)."""


class IdentifierInExportError(ExportError):
    """A table to export holds a value that looks like a citizen or education number, or
    a non-pseudonymised value in a pseudonym column: nothing is written."""


class UnknownTableError(ExportError, KeyError):
    """A requested table is not in the schema."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ExportedFile:
    table: str | None  # None for the dictionary files
    file: str  # name relative to out_dir
    rows: int | None
    bytes: int
    sha256: str
    columns: list[str] = field(default_factory=list)
    formula_cells_neutralised: int = (
        0  # CSV text cells written with a leading apostrophe (spreadsheet_safety)
    )


@dataclass(frozen=True)
class ExportManifest:
    kind: str  # "secure" (this module) or "release" (disclosure-controlled)
    contains_pseudonyms: bool
    synthetic_data_note: str
    created_at: str  # UTC ISO
    warehouse_path: str
    schema: str
    format: str
    out_dir: str
    publication: dict | None  # the latest 'published' row of published.publication_log
    dictionary_source: str
    dictionary_source_path: str
    files: list[ExportedFile]
    warnings: list[str] = field(default_factory=list)  # tables/columns vs the docs
    # defects in the dbt docs themselves
    documentation_problems: list[str] = field(default_factory=list)

    @property
    def tables(self) -> dict[str, ExportedFile]:
        return {f.table: f for f in self.files if f.table is not None}

    @property
    def path(self) -> Path:
        return Path(self.out_dir) / MANIFEST_NAME

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.kind} export of {self.schema} ({self.format}) to {self.out_dir}"]
        for f in self.files:
            rows = f"{f.rows:>10,} rows" if f.rows is not None else " " * 15
            lines.append(f"  {f.file:<34} {rows}  {f.bytes:>12,} bytes  sha256 {f.sha256[:12]}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  documentation: {w}" for w in self.documentation_problems]
        return "\n".join(lines)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def open_warehouse(warehouse_path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Read-only connection to the warehouse, with a clear error when it is missing."""
    from pilotmonitor.warehouse_access import WarehouseConnectionError, warehouse

    place = warehouse(Path(warehouse_path).expanduser())
    if not place.exists():
        raise WarehouseNotFoundError(
            f"warehouse not found: {place.describe()} (run `pilotmonitor run`, or set "
            "PILOTMONITOR_DATA_DIR / pass the path)"
        )
    try:
        return place.connect(read_only=True)
    except WarehouseConnectionError as exc:
        raise ExportError(str(exc)) from None
    except duckdb.Error as exc:  # e.g. not a DuckDB file, or a writer holding an exclusive lock
        raise ExportError(f"cannot open the warehouse {place.describe()} read-only: {exc}") from exc


def schema_tables(conn: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    exists = conn.execute(
        "select count(*) from information_schema.schemata where schema_name = ?", [schema]
    ).fetchone()[0]
    if not exists:
        hint = (
            " (nothing has been published yet: the publication gate has not passed)"
            if schema == DEFAULT_SCHEMA
            else ""
        )
        raise SchemaNotFoundError(f"schema {schema!r} not found in the warehouse{hint}")
    return tables_in(conn, schema)


def resolve_tables(
    available: list[str], docs: MartDocs, tables: Iterable[str] | str | None, schema: str
) -> list[str]:
    """The tables to export: the requested ones (each must exist in the schema) or, by
    default, every documented mart present in the schema."""
    if tables is None:
        chosen = [t for t in available if t in docs.tables and t not in NON_MART_TABLES]
        if not chosen:
            raise ExportError(
                f"schema {schema!r} holds none of the documented marts "
                f"({', '.join(sorted(docs.tables))})"
            )
        return chosen
    requested = [tables] if isinstance(tables, str) else list(tables)
    if not requested:
        raise ExportError("no tables requested (pass tables=None for every mart)")
    unknown = [t for t in requested if t not in available]
    if unknown:
        raise UnknownTableError(
            f"unknown table(s) in schema {schema!r}: {', '.join(unknown)}; available: "
            f"{', '.join(available) or '(none)'}"
        )
    return list(dict.fromkeys(requested))


def _publication(conn: duckdb.DuckDBPyConnection, schema: str) -> dict | None:
    try:
        row = conn.execute(
            "select logged_at, run_id, status, tables, rows, fingerprint from "
            f"{_quote(schema)}.publication_log where status = 'published' order by logged_at "
            "desc limit 1"
        ).fetchone()
    except duckdb.Error:
        return None
    if row is None:
        return None
    keys = ("logged_at", "run_id", "status", "tables", "rows", "fingerprint")
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(keys, row)}


def _describe(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1]) for r in conn.execute(f"describe {_quote(schema)}.{_quote(table)}").fetchall()
    ]


def _copy(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    target: Path,
    fmt: str,
    columns: list[tuple[str, str]],
) -> int:
    """Write the table; returns the number of formula-like text cells neutralised (CSV only)."""
    relation = f"{_quote(schema)}.{_quote(table)}"
    # ORDER BY ALL: the same table content gives the same file bytes (reproducible sha256).
    query = f"select * from {relation} order by all"
    neutralised = 0
    if fmt == "csv":
        text = [_quote(name) for name, kind in columns if kind == "VARCHAR"]
        if text:
            neutralised = int(
                conn.execute(
                    f"select {' + '.join(count_sql(c) for c in text)} from {relation}"
                ).fetchone()[0]
            )
        selected = ", ".join(
            f"{neutralised_sql(_quote(name))} as {_quote(name)}"
            if kind == "VARCHAR"
            else _quote(name)
            for name, kind in columns
        )
        query = f"select {selected} from {relation} order by all"
    options = (
        "format parquet, compression zstd"
        if fmt == "parquet"
        else "format csv, header true, delimiter ','"
    )
    conn.execute(f"copy ({query}) to {sql_string(str(target))} ({options})")
    return neutralised


def _refuse_identifiers(conn: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> None:
    """The exit check before anything is written: the warehouse's leak scan (every text
    column, the identifier forms of ``identifier_forms``, pseudonym columns against their
    form) over the tables to export. Findings name table, column and count, never values."""
    from pilotmonitor.ingest.leak_scan import scan_tables

    leaks = scan_tables(conn, [f"{schema}.{table}" for table in tables], frozenset())
    if leaks:
        found = "; ".join(leak.describe() for leak in leaks)
        raise IdentifierInExportError(
            f"export not written: {found}. Find the source with the leak check of the ingestion "
            "assets (pilotmonitor status) and correct the delivery; nothing was exported"
        )


def dictionary_entries(docs: MartDocs, physical: dict[str, list[tuple[str, str]]]) -> list[dict]:
    """Per exported table its description and, per physical column, description, contract
    type and DuckDB type (columns the docs do not know are flagged)."""
    entries = []
    for table, cols in physical.items():
        doc: TableDoc | None = docs.tables.get(table)
        columns = []
        for name, duck_type in cols:
            cdoc = doc.column(name) if doc else None
            columns.append(
                {
                    "name": name,
                    "description": cdoc.description if cdoc else "",
                    "contract_data_type": cdoc.data_type if cdoc else None,
                    "duckdb_type": duck_type,
                    "not_null": bool(cdoc.not_null) if cdoc else False,
                    "documented": cdoc is not None and bool(cdoc.description),
                }
            )
        entries.append(
            {
                "table": table,
                "description": doc.description if doc else "",
                "contract_enforced": bool(doc.contract_enforced) if doc else False,
                "documented": doc is not None,
                "columns": columns,
            }
        )
    return entries


def _md_cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_dictionary_md(
    entries: list[dict], *, title: str, note: str, source: str, rows: dict[str, int] | None = None
) -> str:
    out = [
        f"# {title}",
        "",
        note,
        "",
        f"Descriptions and contract types from the dbt documentation ({source}).",
        "",
    ]
    for e in entries:
        count = f" ({rows[e['table']]:,} rows)" if rows and e["table"] in rows else ""
        out += [
            f"## {e['table']}{count}",
            "",
            e["description"] or "_(not documented)_",
            "",
            "| column | contract type | DuckDB type | description |",
            "|---|---|---|---|",
        ]
        for c in e["columns"]:
            desc = c["description"] or "_(not documented)_"
            out.append(
                f"| `{c['name']}` | {_md_cell(c['contract_data_type'])} | "
                f"{_md_cell(c['duckdb_type'])} | {_md_cell(desc)} |"
            )
        out.append("")
    return "\n".join(out)


def _relative(path: str) -> str:
    from pilotmonitor.settings import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _write_text(path: Path, text: str) -> None:
    atomic_write.write_text(path, text)


def _file_entry(
    out_dir: Path,
    name: str,
    table: str | None,
    rows: int | None,
    columns: list[str],
    neutralised: int = 0,
) -> ExportedFile:
    path = out_dir / name
    return ExportedFile(
        table, name, rows, path.stat().st_size, sha256_file(path), columns, neutralised
    )


SECURE_NOTE = (
    "SECURE EXPORT: row-level data with keyed pseudonyms (no BSN, names or addresses). "
    "For use inside the secure environment only; anything that leaves it goes through "
    "disclosure control (the release export). On the demo every value is SYNTHETIC."
)


def export_marts(
    warehouse_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    schema: str = DEFAULT_SCHEMA,
    tables: Iterable[str] | str | None = None,
    *,
    docs: MartDocs | None = None,
) -> ExportManifest:
    """Export the marts of ``schema`` (default ``published``) to ``out_dir``.

    Writes ``<table>.parquet`` (zstd) or ``<table>.csv`` (header, comma, ISO dates,
    ``true``/``false``, empty = null) per table, ``data_dictionary.md``/``.json`` and
    ``manifest.json``; returns the manifest. ``tables=None`` exports every documented
    mart present in the schema; otherwise the named tables (``UnknownTableError`` for a
    table the schema lacks). Raises ``WarehouseNotFoundError`` / ``SchemaNotFoundError``
    for a missing warehouse or schema, ``ValueError`` for an unknown format.
    """
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not _IDENT.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    docs = docs or load_mart_docs()
    warehouse = Path(warehouse_path).expanduser()
    conn = open_warehouse(warehouse)
    try:
        available = schema_tables(conn, schema)
        chosen = resolve_tables(available, docs, tables, schema)
        _refuse_identifiers(conn, schema, chosen)
        out = Path(out_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        physical: dict[str, list[tuple[str, str]]] = {}
        files: list[ExportedFile] = []
        warnings: list[str] = []
        row_counts: dict[str, int] = {}
        for table in chosen:
            cols = _describe(conn, schema, table)
            physical[table] = cols
            rows = int(
                conn.execute(f"select count(*) from {_quote(schema)}.{_quote(table)}").fetchone()[0]
            )
            row_counts[table] = rows
            name = table + FORMATS[fmt]
            tmp = out / (name + ".tmp")
            neutralised = _copy(conn, schema, table, tmp, fmt, cols)
            os.replace(tmp, out / name)
            files.append(_file_entry(out, name, table, rows, [c for c, _ in cols], neutralised))
            if neutralised:
                warnings.append(
                    f"{table}: {neutralised} text cell(s) starting like a spreadsheet formula (=, "
                    "+, -, @, tab, CR) written with a leading apostrophe"
                )
            doc = docs.tables.get(table)
            if doc is None:
                warnings.append(f"{table}: not in the dbt documentation")
            else:
                names = {c for c, _ in cols}
                missing = [c.name for c in doc.columns if c.name not in names]
                extra = [c for c, _ in cols if doc.column(c) is None]
                if missing:
                    warnings.append(
                        f"{table}: documented but not in the table: {', '.join(missing)}"
                    )
                if extra:
                    warnings.append(f"{table}: in the table but not documented: {', '.join(extra)}")
        publication = _publication(conn, schema)
    finally:
        conn.close()

    entries = dictionary_entries(docs, physical)
    title = f"Pilotmonitor data dictionary: {schema} ({fmt}, secure export)"
    source = f"{docs.source}: {_relative(docs.source_path)}"
    _write_text(
        out / DICTIONARY_MD,
        render_dictionary_md(
            entries, title=title, note=SECURE_NOTE, source=source, rows=row_counts
        ),
    )
    _write_text(
        out / DICTIONARY_JSON,
        json.dumps(
            {"schema": schema, "note": SECURE_NOTE, "source": docs.source, "tables": entries},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
    )
    files.append(_file_entry(out, DICTIONARY_MD, None, None, []))
    files.append(_file_entry(out, DICTIONARY_JSON, None, None, []))
    manifest = ExportManifest(
        kind="secure",
        contains_pseudonyms=True,
        synthetic_data_note=SECURE_NOTE,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        warehouse_path=str(warehouse.resolve()),
        schema=schema,
        format=fmt,
        out_dir=str(out.resolve()),
        publication=publication,
        dictionary_source=docs.source,
        dictionary_source_path=docs.source_path,
        files=files,
        warnings=warnings,
        documentation_problems=[p for p in docs.problems if p.split(".", 1)[0] in physical],
    )
    _write_text(
        out / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    return manifest


def verify_export(out_dir: str | os.PathLike) -> list[str]:
    """Re-hash the files listed in ``manifest.json``; returns the problems (empty = intact)."""
    out = Path(out_dir)
    data = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    problems = []
    for f in data["files"]:
        path = out / f["file"]
        if not path.is_file():
            problems.append(f"{f['file']}: missing")
        elif sha256_file(path) != f["sha256"]:
            problems.append(f"{f['file']}: sha256 differs from the manifest")
    return problems


def read_export(out_dir: str | os.PathLike, table: str):
    """One exported table as a pandas DataFrame with the warehouse's column types.

    Parquet carries its types; a CSV is read with the DuckDB types recorded in
    ``data_dictionary.json`` (so ``vestiging = "00"`` stays text, dates stay dates).
    """
    out = Path(out_dir)
    data = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    entry = next((f for f in data["files"] if f["table"] == table), None)
    if entry is None:
        raise UnknownTableError(
            f"table {table!r} is not in the export {out} "
            f"(exported: {', '.join(f['table'] for f in data['files'] if f['table'])})"
        )
    path = out / entry["file"]
    with duckdb.connect() as conn:
        if path.suffix == ".parquet":
            return conn.execute(f"select * from read_parquet({sql_string(str(path))})").df()
        dictionary = json.loads((out / DICTIONARY_JSON).read_text(encoding="utf-8"))
        columns = next(t["columns"] for t in dictionary["tables"] if t["table"] == table)
        struct = ", ".join(
            f"{sql_string(c['name'])}: {sql_string(c['duckdb_type'])}" for c in columns
        )
        return conn.execute(
            f"select * from read_csv({sql_string(str(path))}, header = true, delim = ',', "
            f"columns = {{{struct}}})"
        ).df()


__all__ = [
    "export_marts",
    "verify_export",
    "read_export",
    "open_warehouse",
    "ExportManifest",
    "ExportedFile",
    "ExportError",
    "WarehouseNotFoundError",
    "SchemaNotFoundError",
    "UnknownTableError",
    "FORMATS",
    "sha256_file",
]
