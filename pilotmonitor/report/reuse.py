"""Whether a pilot's report on disk is the one a rebuild would write: a monthly run without
new data should not redraw charts and reprint PDFs (about 3 s per pilot, most of a rerun).

The key of a report is a hash of everything it is made from: the pilot's rows of
``results.effect_estimates`` (with their provenance), the content of the published tables
and the publication's state, the delivery totals it quotes, the disclosure rules, the
synthetic label, whether PDFs are wanted, the committed code that writes reports
(`pilotmonitor.code_fingerprint`: a commit touching only docs or tests keeps reports) and
the package versions.
It is written beside the report (``report_key.json``) after a complete build; a report is
reused only when its key matches and every file it listed is still there. Code that is
not a clean git commit is never trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from pilotmonitor import atomic_write
from pilotmonitor.code_fingerprint import code_fingerprint
from pilotmonitor.disclosure import DisclosureRules
from pilotmonitor.evaluation.store import PACKAGES, package_versions
from pilotmonitor.publication.gate import (
    logged_fingerprint,
    publication_state,
    published_fingerprint,
)

from .content import delivery_totals

KEY_FILE = "report_key.json"
_PACKAGES = (*PACKAGES, "matplotlib", "jinja2", "acro")


def shared_inputs(
    conn: duckdb.DuckDBPyConnection,
    synthetic: bool,
    pdf: bool,
    rules: DisclosureRules,
    run_id: str | None = None,
) -> dict | None:
    """What every pilot's report is made from besides its own estimates, read once per
    run; None when no report may be reused: code that is not committed (uncommitted
    changes, or no checkout, where templates could change under the same package
    version). ``run_id``: the pipeline run, whose publication step (if it logged the
    published content) spares hashing the published tables again."""
    code = code_fingerprint()
    if code is None:
        return None
    logged = logged_fingerprint(conn, run_id) if run_id is not None else None
    return {
        "published": logged or published_fingerprint(conn),
        "publication_state": publication_state(conn).summary(),
        "deliveries": delivery_totals(conn),
        "rules": repr(rules),
        "synthetic": synthetic,
        "pdf": pdf,
        "code": code,
        "packages": package_versions(_PACKAGES),
    }


def report_key(conn: duckdb.DuckDBPyConnection, pilot_id: str, shared: dict | None) -> str | None:
    """The key of this pilot's report now (None: not to be reused)."""
    if shared is None:
        return None
    try:
        estimates = conn.execute(
            "select * from results.effect_estimates where pilot_id = ? order by role, outcome, "
            "estimator",
            [pilot_id],
        ).df()
    except duckdb.CatalogException:  # nothing estimated yet: the build says why
        return None
    parts = {
        **shared,
        "pilot": pilot_id,
        "estimates": estimates.to_csv(index=False, lineterminator="\n", float_format="%.12g"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def recorded(directory: Path, key: str | None) -> dict | None:
    """What the report in this directory was built with, if its key is ``key`` and every
    file it wrote is still there."""
    path = directory / KEY_FILE
    if key is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("key") != key or record.get("pdf_error"):
        return None
    files = [
        *record.get("html", {}).values(),
        *record.get("pdf", {}).values(),
        record.get("disclosure_log"),
    ]
    if not all(isinstance(f, str) and (directory / f).is_file() for f in files):
        return None
    return record


def forget(directory: Path) -> None:
    """Before a build: a build that stops half-way must not leave a key that claims its files."""
    (directory / KEY_FILE).unlink(missing_ok=True)


def write_record(directory: Path, key: str | None, record: dict) -> None:
    """After a complete build (files named relative to ``directory``); no key, no record."""
    if key is None:
        return
    atomic_write.write_text(
        directory / KEY_FILE, json.dumps({"key": key, **record}, indent=1, sort_keys=True)
    )


__all__ = ["KEY_FILE", "forget", "recorded", "report_key", "shared_inputs", "write_record"]
