"""HOOK for the RELEASE export: what may leave the secure environment.

Not implemented here. Disclosure control (suppression of small cells, aggregation, no
pseudonyms, no row-level data about pupils) is the job of ``pilotmonitor.disclosure``
(ACRO rules, ``DisclosureRules``, the release log; built separately). This module fixes
the signature the CLI and that package meet at:

    export_release(warehouse_path, out_dir, disclosure_control=..., fmt="csv",
                   schema="published", tables=None) -> ExportManifest

``disclosure_control`` is a callable ``(table, frame, table_doc) -> frame`` that returns
the releasable version of one mart (aggregated / suppressed), or raises to refuse the
table. The release export must never fall back to the secure export: without a
disclosure-control implementation it refuses.
"""

from __future__ import annotations

import os
from typing import Iterable, Protocol

import pandas as pd

from .dictionary import TableDoc
from .secure import ExportError, ExportManifest


class DisclosureControl(Protocol):
    def __call__(self, table: str, frame: pd.DataFrame, doc: TableDoc | None) -> pd.DataFrame:
        """Return the releasable version of ``frame`` (one mart) or raise to refuse it."""
        ...


class ReleaseNotAvailableError(ExportError, NotImplementedError):
    """The release export needs disclosure control, which is not wired in yet."""


def export_release(warehouse_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                   disclosure_control: DisclosureControl | None = None, fmt: str = "csv",
                   schema: str = "published", tables: Iterable[str] | str | None = None) -> ExportManifest:
    """Export for release OUTSIDE the secure environment, through disclosure control.

    Not implemented yet: always raises ``ReleaseNotAvailableError``. The intended flow
    (for the session implementing ``pilotmonitor.disclosure``): open the warehouse
    read-only (``secure.open_warehouse``), resolve tables as ``export_marts`` does,
    read each mart, pass it through ``disclosure_control(table, frame, doc)``, write only
    the returned frame, and write a manifest with ``kind="release"`` and
    ``contains_pseudonyms=False`` plus the disclosure rules applied.
    """
    raise ReleaseNotAvailableError(
        "release export is not available: it requires disclosure control (pilotmonitor.disclosure), "
        "which is not wired in yet. Use pilotmonitor.export.export_marts for the SECURE export "
        "(pseudonymised row-level data; it must stay inside the secure environment)."
    )


__all__ = ["export_release", "DisclosureControl", "ReleaseNotAvailableError"]
