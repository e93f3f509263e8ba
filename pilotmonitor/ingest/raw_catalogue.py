"""The raw layer's catalogue (raw_tables.yml): every table dbt reads from schema raw, its
columns with DuckDB type, identifier class and description, declared once.

The loader's contracts, the warehouse DDL, the sources' tables, the leak scan's column
classes and the GX column sets read it; ``python -m pilotmonitor.ingest.raw_catalogue``
writes dbt's ``_sources.yml`` from it (``--check`` says whether that file is current).

Design notes: docs/design/ingest.md#pilotmonitoringestraw_cataloguepy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from pilotmonitor.settings import REPO_ROOT

CATALOGUE_PATH = Path(__file__).with_name("raw_tables.yml")
DBT_SOURCES_PATH = REPO_ROOT / "dbt_project" / "models" / "staging" / "_sources.yml"
KINDS = ("delivered", "register", "registry")
# The columns every delivered row starts with: its delivery (content hash) and its place
# in the delivery (row number or message name), so each value traces back to its file.
ROW_ORIGIN = ("delivery_id", "row_locator")


class CatalogueError(ValueError):
    """raw_tables.yml contradicts itself; the message names the table and column."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    klass: str  # the identifier class (pilotmonitor/ingest/column_policy.py)
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    kind: str  # one of KINDS
    description: str
    columns: tuple[Column, ...]  # empty for the registry (its asset decides them)
    sources: tuple[str, ...] = ()  # delivered tables: the sources whose readers fill it
    primary_key: str | None = None

    def types(self) -> dict[str, str]:
        """Column name -> DuckDB type, in warehouse order."""
        return {column.name: column.type for column in self.columns}


@dataclass(frozen=True)
class Catalogue:
    columns: dict[str, Column]  # the shared definition of each column name
    tables: dict[str, Table]

    def of_kind(self, kind: str) -> dict[str, Table]:
        return {name: table for name, table in self.tables.items() if table.kind == kind}

    def tables_of_source(self, source: str) -> tuple[str, ...]:
        return tuple(name for name, table in self.tables.items() if source in table.sources)


@cache
def catalogue() -> Catalogue:
    return parse(yaml.load(CATALOGUE_PATH.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))


def parse(data: dict) -> Catalogue:
    """The catalogue from its YAML document; raises CatalogueError on any contradiction."""
    columns = {
        name: Column(name, spec["type"], spec["class"], _text(spec["description"]))
        for name, spec in (data.get("columns") or {}).items()
    }
    tables = {name: _table(name, spec, columns) for name, spec in data["tables"].items()}
    used = {column.name for table in tables.values() for column in table.columns}
    if unused := sorted(set(columns) - used):
        raise CatalogueError(f"columns defined but in no table: {', '.join(unused)}")
    return Catalogue(columns, tables)


def _table(name: str, spec: dict, shared: dict[str, Column]) -> Table:
    kind = spec.get("kind")
    if kind not in KINDS:
        raise CatalogueError(f"table {name}: kind {kind!r} is not one of {', '.join(KINDS)}")
    columns = tuple(_column(name, item, shared) for item in spec.get("columns") or [])
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise CatalogueError(f"table {name}: a column is listed twice")
    sources = tuple(spec.get("sources") or ())
    if (kind == "delivered") != bool(sources):
        raise CatalogueError(f"table {name}: delivered tables name their sources, others none")
    if kind == "delivered" and tuple(names[: len(ROW_ORIGIN)]) != ROW_ORIGIN:
        raise CatalogueError(f"table {name}: a delivered table starts with {', '.join(ROW_ORIGIN)}")
    if (kind == "registry") == bool(columns):
        raise CatalogueError(f"table {name}: registry tables list no columns, others do")
    key = spec.get("primary_key")
    if key is not None and key not in names:
        raise CatalogueError(f"table {name}: primary key {key} is not one of its columns")
    return Table(name, kind, _text(spec["description"]), columns, sources, key)


def _column(table: str, item: str | dict, shared: dict[str, Column]) -> Column:
    """A listed column: a name, or {name: description} where the table says more."""
    name, own = (item, None) if isinstance(item, str) else next(iter(item.items()))
    if name not in shared:
        raise CatalogueError(f"table {table}: column {name} has no definition under columns")
    column = shared[name]
    return column if own is None else Column(name, column.type, column.klass, _text(own))


def _text(value) -> str:
    return " ".join(str(value).split())


def dbt_sources_yaml(cat: Catalogue | None = None) -> str:
    """dbt's source declaration of schema raw, written from the catalogue."""
    cat = cat or catalogue()
    tables = []
    for table in cat.tables.values():
        entry: dict = {"name": table.name, "description": table.description}
        if table.columns:
            entry["columns"] = [
                {
                    "name": column.name,
                    "description": column.description,
                    "data_type": column.type,
                    "meta": {"identifier_class": column.klass},
                    **(
                        {"data_tests": ["unique", "not_null"]}
                        if column.name == table.primary_key
                        else {}
                    ),
                }
                for column in table.columns
            ]
        tables.append(entry)
    document = {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "description": (
                    "The raw layer written by the ingestion and registry assets: one table "
                    "per delivered source table, identifiers already pseudonymised, plus "
                    "the delivery register, the quarantine and the pilot registry."
                ),
                "schema": "raw",
                "tables": tables,
            }
        ],
    }
    header = (
        "# Generated from pilotmonitor/ingest/raw_tables.yml by\n"
        "# `python -m pilotmonitor.ingest.raw_catalogue`: edit the catalogue, not this file.\n"
    )
    body = yaml.dump(document, sort_keys=False, allow_unicode=True, width=76)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    wanted = dbt_sources_yaml()
    current = DBT_SOURCES_PATH.read_text(encoding="utf-8") if DBT_SOURCES_PATH.exists() else ""
    if current == wanted:
        print(f"{DBT_SOURCES_PATH} is current")
        return 0
    if args.check:
        print(f"{DBT_SOURCES_PATH} is out of date: run python -m pilotmonitor.ingest.raw_catalogue")
        return 1
    DBT_SOURCES_PATH.write_text(wanted, encoding="utf-8")
    print(f"wrote {DBT_SOURCES_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
