"""The policymaker report: one per pilot, Dutch first and English, HTML and PDF, every
table and chart through disclosure control (:mod:`pilotmonitor.disclosure`)."""

from .build import ChartWorker, ReportFiles, build_report, build_reports

__all__ = ["ChartWorker", "ReportFiles", "build_report", "build_reports"]
