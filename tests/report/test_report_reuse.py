"""A monthly run keeps a report whose inputs, code and packages did not change, and rebuilds
exactly the reports whose inputs did (a changed estimate, changed published data, a file
gone, uncommitted code)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pilotmonitor.report import build_reports, reuse

PILOTS = ["groningen-cluster3", "winschoten-sbo"]


COMMITTED = "tree-a,tree-b"  # committed code, whatever the checkout


@pytest.fixture(scope="module")
def built(demo_data_dir, tmp_path_factory):
    """The fixture's warehouse with the reports built once (without PDFs): the state a
    test's next run starts from. Tests get copies (`warehouse`, `built_reports`)."""
    root = tmp_path_factory.mktemp("reports_built")
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", root / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reuse, "code_fingerprint", lambda: COMMITTED)
        with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
            first = _build(conn, root / "reports")
    assert not any(f.reused for f in first.values())
    return root


@pytest.fixture()
def warehouse(built, tmp_path, monkeypatch):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(built / "warehouse.duckdb", copy)
    monkeypatch.setattr(reuse, "code_fingerprint", lambda: COMMITTED)
    conn = duckdb.connect(str(copy))
    yield conn
    conn.close()


@pytest.fixture()
def built_reports(built, tmp_path) -> Path:
    """A copy of the reports built once, where a run writes its reports."""
    out = tmp_path / "reports"
    shutil.copytree(built / "reports", out)
    return out


def _build(conn, out):
    return {f.pilot_id: f for f in build_reports(conn, PILOTS, out, synthetic=True, pdf=False)}


def test_unchanged_reports_are_kept_and_changed_ones_rebuilt(warehouse, tmp_path):
    out = tmp_path / "reports"
    first = _build(warehouse, out)
    assert not any(f.reused for f in first.values())
    written = {p: f.html["nl"].stat().st_mtime_ns for p, f in first.items()}

    again = _build(warehouse, out)
    assert all(f.reused for f in again.values())
    assert {p: f.html["nl"].stat().st_mtime_ns for p, f in again.items()} == written
    assert {p: (f.result, f.disclosure_status, f.html) for p, f in again.items()} == {
        p: (f.result, f.disclosure_status, f.html) for p, f in first.items()
    }

    warehouse.execute(
        "update results.effect_estimates set estimate = estimate * 1.01 where pilot_id = "
        "'winschoten-sbo'"
    )
    changed = _build(warehouse, out)
    assert changed["groningen-cluster3"].reused and not changed["winschoten-sbo"].reused

    (out / "groningen-cluster3" / "report.en.html").unlink()
    rebuilt = _build(warehouse, out)
    assert (
        not rebuilt["groningen-cluster3"].reused
        and (out / "groningen-cluster3" / "report.en.html").is_file()
    )


def test_changed_published_data_rebuilds_every_report(warehouse, built_reports):
    out = built_reports
    assert all(f.reused for f in _build(warehouse, out).values())
    warehouse.execute(
        "update published.fct_school_month set new_referrals = new_referrals + 1 where month = "
        "(select min(month) from published.fct_school_month)"
    )
    assert not any(f.reused for f in _build(warehouse, out).values())


def test_uncommitted_code_is_never_trusted(warehouse, built_reports, monkeypatch):
    out = built_reports
    # uncommitted changes, or no git checkout
    monkeypatch.setattr(reuse, "code_fingerprint", lambda: None)
    assert not any(f.reused for f in _build(warehouse, out).values())
    assert not (out / "winschoten-sbo" / reuse.KEY_FILE).exists()


def test_changed_report_code_rebuilds_every_report(warehouse, built_reports, monkeypatch):
    out = built_reports
    monkeypatch.setattr(reuse, "code_fingerprint", lambda: "tree-a,tree-c")
    assert not any(f.reused for f in _build(warehouse, out).values())


def test_a_forced_rebuild_leaves_a_report_the_next_run_keeps(warehouse, built_reports):
    out = built_reports
    forced = build_reports(warehouse, PILOTS, out, synthetic=True, pdf=False, reuse=False)
    assert not any(f.reused for f in forced)
    assert all(f.reused for f in _build(warehouse, out).values())


def test_a_blocked_publication_rebuilds_the_reports_with_the_stale_mark(warehouse, built_reports):
    from pilotmonitor.publication.gate import BlockingFailure, publish

    out = built_reports
    publish(
        warehouse,
        "run-blocked",
        [BlockingFailure("raw_school_absence", "expectations_error", "dates outside the year")],
    )
    assert not any(f.reused for f in _build(warehouse, out).values())


def test_pdfs_printed_beside_the_next_report_are_kept_with_their_report(warehouse, tmp_path):
    """The browser prints a report's PDFs in a thread of its own while the next report is
    written: each report gets its own two PDFs, and its record, written once they are
    printed, lets the next run keep the report with its PDFs."""
    from pilotmonitor.report.browser import BrowserMissing, chromium_path

    try:
        chromium_path()
    except BrowserMissing as exc:
        pytest.skip(str(exc))
    out = tmp_path / "reports"
    first = {f.pilot_id: f for f in build_reports(warehouse, PILOTS, out, synthetic=True)}
    for pilot, files in first.items():
        assert files.pdf_error is None and not files.reused
        assert files.pdf == {lang: out / pilot / f"report.{lang}.pdf" for lang in ("nl", "en")}
        assert all(path.read_bytes()[:5] == b"%PDF-" for path in files.pdf.values())
    again = {f.pilot_id: f for f in build_reports(warehouse, PILOTS, out, synthetic=True)}
    assert all(f.reused and f.pdf == first[p].pdf for p, f in again.items())


def test_without_a_browser_every_report_is_written_and_says_why_it_has_no_pdf(
    warehouse, tmp_path, monkeypatch
):
    """No browser: the printing thread's error reaches each report as its reason, the HTML
    is written, and the record says so (a later run, which may have a browser, rebuilds)."""
    import json

    monkeypatch.setenv("PILOTMONITOR_CHROMIUM", str(tmp_path / "no-chromium"))
    out = tmp_path / "reports"
    files = build_reports(warehouse, PILOTS, out, synthetic=True)
    assert [f.pilot_id for f in files] == PILOTS
    for f in files:
        assert f.html["nl"].is_file() and not f.pdf
        assert "PILOTMONITOR_CHROMIUM" in f.pdf_error
        record = json.loads((f.directory / reuse.KEY_FILE).read_text(encoding="utf-8"))
        assert record["pdf_error"] == f.pdf_error
