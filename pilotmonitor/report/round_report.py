"""An evaluation round's report: the pilot's full report built from the round's frozen
data and estimates (pilotmonitor.rounds.freeze.round_warehouse), with the section "what
changed since the previous round" (round_section.py), written to
``<reports dir>/<pilot>/rounds/<round name>/`` with its own disclosure log. A round is
immutable, so its report is written again only on request (``report --round``) and then
from the same frozen rows: the same numbers."""

from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from pathlib import Path

import duckdb

from pilotmonitor.evaluation.sample import AnalysisInputError
from pilotmonitor.rounds import compare, registry
from pilotmonitor.rounds.freeze import round_warehouse

from . import round_section
from .browser import PdfPrinter
from .build import IdentifierInReportError, ReportFiles, build_report


def round_report_dir(reports_dir: Path, pilot_id: str, name: str) -> Path:
    return reports_dir / pilot_id / "rounds" / name


def build_round_reports(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    reports_dir: Path,
    synthetic: bool,
    pdf: bool = True,
    pilot_id: str | None = None,
    printer: PdfPrinter | None = None,
    charts: Executor | None = None,
) -> list[ReportFiles]:
    """The report of round ``name`` for each of its pilots (or ``pilot_id``), their PDFs
    printed by ``printer`` (default: one browser for this round's reports), half of their
    charts drawn by ``charts`` (a ChartWorker's process; default: none)."""
    files = []
    with contextlib.ExitStack() as stack:
        printer = printer or stack.enter_context(PdfPrinter())
        for entry in registry.get_round(conn, name, pilot_id):
            comparison = compare.compare(conn, entry)

            def section(release, comparison=comparison):
                checked = round_section.check(release, comparison)
                return lambda lang: round_section.render(checked, lang)

            out = round_report_dir(reports_dir, entry.pilot_id, name)
            with round_warehouse(conn, name, entry.pilot_id) as frozen:
                try:
                    files.append(
                        build_report(
                            frozen,
                            entry.pilot_id,
                            reports_dir,
                            synthetic,
                            pdf=pdf,
                            out=out,
                            extra_section=section,
                            printer=printer,
                            charts=charts,
                        )
                    )
                except (
                    LookupError,
                    AnalysisInputError,
                    IdentifierInReportError,
                ) as exc:  # as build_reports: said, not fatal
                    files.append(
                        ReportFiles(
                            entry.pilot_id, out, synthetic=synthetic, result="none", error=str(exc)
                        )
                    )
    return files
