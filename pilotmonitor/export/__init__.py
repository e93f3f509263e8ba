"""Exports of the warehouse marts as files.

* :func:`export_marts` — the SECURE export (row-level, pseudonyms included; stays inside
  the secure environment): one Parquet/CSV file per mart, ``data_dictionary.md`` /
  ``data_dictionary.json`` from the dbt docs, ``manifest.json`` with row counts and sha256.
* :func:`export_release` — the RELEASE export: aggregate tables through disclosure
  control (``pilotmonitor.disclosure``), suppressed cells as ``x``, with the disclosure log.
"""

from .dictionary import ColumnDoc, MartDocs, TableDoc, load_mart_docs
from .release import export_release
from .secure import (
    ExportedFile,
    ExportError,
    ExportManifest,
    SchemaNotFoundError,
    UnknownTableError,
    WarehouseNotFoundError,
    export_marts,
    open_warehouse,
    read_export,
    verify_export,
)

__all__ = [
    "export_marts",
    "export_release",
    "verify_export",
    "read_export",
    "open_warehouse",
    "load_mart_docs",
    "ExportManifest",
    "ExportedFile",
    "ExportError",
    "WarehouseNotFoundError",
    "SchemaNotFoundError",
    "UnknownTableError",
    "ColumnDoc",
    "TableDoc",
    "MartDocs",
]
